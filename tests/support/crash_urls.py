"""A URL configuration with one API view that fails with an unexpected error."""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class CrashView(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("secret detail of a bug")


urlpatterns = [path("api/v1/crash/", CrashView.as_view())]
