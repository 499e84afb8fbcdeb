from __future__ import annotations

import hashlib

import pytest

from orchestration.context import NodeError
from tests.webflows.conftest import SANDBOX_UID, files_in
from webflows.kinds import batch_download, weibo
from webflows.sandbox.state import sandbox_advance


def _monitor(sandbox, make_context):
    return weibo.run({"targetUrl": f"{sandbox}/weibo/u/{SANDBOX_UID}"}, None, make_context("monitoring"))


def test_it_downloads_post_media_in_the_chosen_quality(sandbox, make_context, media_root):
    posts = _monitor(sandbox, make_context)
    output = batch_download.run(
        {"maxPosts": 100, "mediaQuality": "original", "includeComments": True}, posts, make_context("download")
    )
    # Posts 1..3 have 2, 3 and 1 pictures.
    assert output["total"] == 6 and output["downloaded"] == 6
    assert output["skipped"] == output["failed"] == output["deduplicated"] == 0
    folder = media_root / "tasks" / "webflows-test-task" / "download"
    stored = [p for p in files_in(folder) if p.suffix == ".png"]
    assert len(stored) == 6
    for record in output["files"]:
        data = (folder / record["name"]).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) == record["size"]
        assert hashlib.sha256(data).hexdigest() == record["sha256"]
        assert "/large/" in record["url"]
    # The posts and their text pass through for content analysis downstream.
    assert len(output["posts"]) == 3 and "第3条微博" in output["text"]
    assert output["posts"][0]["comments"][0]["text"].startswith("评论1")
    assert all(post["localFiles"] for post in output["posts"])
    assert (folder / "posts.json").exists()


def test_quality_picks_the_variant_and_max_posts_limits_posts(sandbox, make_context):
    posts = _monitor(sandbox, make_context)
    output = batch_download.run({"maxPosts": 1, "mediaQuality": "thumbnail"}, posts, make_context("download"))
    assert output["total"] == 1 and "/thumbnail/" in output["files"][0]["url"]


def test_a_second_run_skips_what_it_has_and_fetches_only_new_media(sandbox, make_context, media_root):
    config = {"mediaQuality": "medium"}
    batch_download.run(config, _monitor(sandbox, make_context), make_context("download"))
    again = batch_download.run(config, _monitor(sandbox, make_context), make_context("download"))
    assert again["downloaded"] == 0 and again["skipped"] == 6

    sandbox_advance()  # post 4 with two new pictures
    after = batch_download.run(config, _monitor(sandbox, make_context), make_context("download"))
    assert after["downloaded"] == 2 and after["skipped"] == 6
    assert {f["name"] for f in after["files"]} == {"sbx0004p1.png", "sbx0004p2.png"}


def test_same_bytes_under_a_new_url_are_deduplicated_across_runs(sandbox, make_context, media_root):
    first = batch_download.run({"urls": [f"{sandbox}/images/news-1.png"]}, None, make_context("download"))
    second = batch_download.run(
        {"urls": [f"{sandbox}/images/news-1.png?copy=1"]}, None, make_context("download")
    )
    assert first["downloaded"] == 1
    assert second["downloaded"] == 0 and second["deduplicated"] == 1
    assert len([p for p in files_in(media_root) if p.suffix == ".png"]) == 1


def test_small_files_are_skipped_not_failed(sandbox, make_context):
    output = batch_download.run(
        {"urls": [f"{sandbox}/files/tiny.png", f"{sandbox}/images/news-2.png"], "minBytes": 100},
        None,
        make_context(),
    )
    assert output["downloaded"] == 1 and output["skipped"] == 1 and output["failed"] == 0


def _no_partials(media_root):
    leftovers = [p for p in files_in(media_root) if p.name.startswith(".partial")]
    assert leftovers == []


# One live-server test for all cases: each such test pays for a database flush.
DOWNLOAD_ERRORS = [
    ("/files/big.bin?bytes=300000", {"maxBytes": 100000, "contentTypes": []}, "over the size limit of 100000 bytes"),
    ("/files/big.bin?bytes=300000&declared=0", {"maxBytes": 100000, "contentTypes": []}, "over the size limit"),
    ("/files/note.txt", {}, "content type 'text/plain', not one of the allowed types image/*, video/*"),
    ("/no-such-file.png", {}, "HTTP 404 Not Found"),
    ("/files/slow.png?seconds=3", {"timeout": 0.5, "retries": 0}, "timed out after 0.5s"),
]
# Only failures that may pass on a later attempt let the engine retry the node.
RETRYABLE = {"/files/slow.png?seconds=3"}


def test_download_errors_are_clear_and_leave_no_files(sandbox, make_context, media_root):
    for path, config, message in DOWNLOAD_ERRORS:
        with pytest.raises(NodeError) as caught:
            batch_download.run({"urls": [f"{sandbox}{path}"], **config}, None, make_context("download"))
        assert message in str(caught.value), (path, str(caught.value))
        assert caught.value.retryable is (path in RETRYABLE), path
        assert [p for p in files_in(media_root) if p.suffix != ".json"] == [], path
        _no_partials(media_root)


def test_an_unreachable_host_is_a_clear_error(make_context, media_root):
    with pytest.raises(NodeError, match="cannot reach host 127.0.0.1:9"):
        batch_download.run({"urls": ["http://127.0.0.1:9/a.png"], "retries": 0}, None, make_context())
    _no_partials(media_root)


def test_retries_then_succeeds_and_continue_on_error_keeps_the_rest(sandbox, make_context, media_root):
    output = batch_download.run(
        {
            "urls": [f"{sandbox}/images/news-1.png", "http://127.0.0.1:9/gone.png"],
            "retries": 1,
            "retryDelay": 0.05,
            "continueOnError": True,
        },
        None,
        make_context(),
    )
    assert output["downloaded"] == 1 and output["failed"] == 1
    assert "cannot reach host" in output["failures"][0]["error"]


def test_page_monitor_media_is_a_valid_input(sandbox, make_context):
    page_output = {"media": [{"type": "image", "url": f"{sandbox}/images/news-1.png"}], "links": []}
    output = batch_download.run({}, page_output, make_context())
    assert output["downloaded"] == 1 and output["files"][0]["contentType"] == "image/png"


def test_same_bytes_twice_in_one_run_are_stored_once(sandbox, make_context, media_root):
    urls = [f"{sandbox}/images/news-2.png?n={n}" for n in range(4)]
    output = batch_download.run({"urls": urls, "concurrency": 4}, None, make_context())
    assert output["downloaded"] == 1 and output["deduplicated"] == 3
    assert len([p for p in files_in(media_root) if p.suffix == ".png"]) == 1


def test_links_are_downloaded_only_when_asked(sandbox, make_context):
    page_output = {"media": [], "links": [{"url": f"{sandbox}/news/welcome/", "text": "Welcome"}]}
    assert batch_download.run({}, page_output, make_context())["total"] == 0
    pages = batch_download.run(
        {"includeLinks": True, "contentTypes": ["text/html"]}, page_output, make_context("pages")
    )
    assert pages["downloaded"] == 1 and pages["files"][0]["name"] == "welcome.html"
