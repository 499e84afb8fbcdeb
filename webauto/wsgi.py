import os

from django.core.wsgi import get_wsgi_application

from webauto.chunked import ChunkedBodyMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webauto.settings")
application = ChunkedBodyMiddleware(get_wsgi_application())
