"""Pages of this app: the workflows pages (login required) and the public
sandbox site under /sandbox/."""

from django.urls import URLPattern, URLResolver, path

from webflows import views
from webflows.sandbox import views as sandbox

sandbox_patterns = [
    path("sandbox/", sandbox.index, name="sandbox-index"),
    path("sandbox/news/", sandbox.news, name="sandbox-news"),
    path("sandbox/news/<slug:slug>/", sandbox.article, name="sandbox-article"),
    path("sandbox/app/", sandbox.js_app, name="sandbox-app"),
    path("sandbox/app/items.json", sandbox.app_items, name="sandbox-app-items"),
    path("sandbox/images/banner.png", sandbox.banner, name="sandbox-banner"),
    path("sandbox/images/news-<int:number>.png", sandbox.news_image, name="sandbox-news-image"),
    path("sandbox/login/", sandbox.login, name="sandbox-login"),
    path("sandbox/logout/", sandbox.logout, name="sandbox-logout"),
    path("sandbox/members/", sandbox.members, name="sandbox-members"),
    path("sandbox/members/files/<str:name>", sandbox.member_file, name="sandbox-member-file"),
    path("sandbox/files/big.bin", sandbox.big_file, name="sandbox-big-file"),
    path("sandbox/files/slow.png", sandbox.slow_file, name="sandbox-slow-file"),
    path("sandbox/files/note.txt", sandbox.text_file, name="sandbox-text-file"),
    path("sandbox/files/tiny.png", sandbox.tiny_file, name="sandbox-tiny-file"),
    path("sandbox/<slug:feed>/api/container/getIndex", sandbox.weibo_get_index, name="sandbox-weibo-index"),
    path("sandbox/<slug:feed>/api/comments/show", sandbox.weibo_comments, name="sandbox-weibo-comments"),
    path("sandbox/<slug:feed>/statuses/extend", sandbox.weibo_extend, name="sandbox-weibo-extend"),
    path(
        "sandbox/<slug:feed>/media/<slug:quality>/<slug:pid>.png",
        sandbox.weibo_media,
        name="sandbox-weibo-media",
    ),
    path("sandbox/<slug:feed>/u/<str:uid>", sandbox.weibo_profile, name="sandbox-weibo-profile"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("workflows/", views.workflow_list, name="webflows-list"),
    path("workflows/<slug:name>/", views.workflow_detail, name="webflows-detail"),
    *sandbox_patterns,
]
