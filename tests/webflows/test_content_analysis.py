from __future__ import annotations

import pytest

from orchestration.context import NodeError
from webflows.kinds import content_analysis
from webflows.kinds.content_analysis import analyse, detect_language, tokenize

CHINESE = (
    "今天在北京参加了人工智能大会。机器学习和自然语言处理的进展令人印象深刻。"
    "人工智能正在改变很多行业。很多公司都在研究人工智能和机器学习的应用。"
    "大会结束后，我们讨论了自然语言处理的未来。"
)
ENGLISH = (
    "The orchestrator schedules workflows on workers. Workflows download media and analyse content. "
    "Operators watch workflows on a dashboard. The dashboard shows failures and durations of workflows."
)


def test_chinese_is_segmented_into_words_not_characters():
    tokens = tokenize(CHINESE, "zh")
    assert "人工智能" in tokens and "自然语言" in tokens and "北京" in tokens
    assert "人" not in tokens and "智" not in tokens


def test_language_is_detected_by_script():
    assert detect_language(CHINESE)[0] == "zh"
    assert detect_language(ENGLISH)[0] == "en"
    assert detect_language("ひらがなとカタカナと漢字")[0] == "ja"
    assert detect_language("12345 !!!") == ("unknown", 0.0)


def test_chinese_analysis_has_keywords_frequencies_stats_and_a_summary():
    result = analyse(CHINESE, {"summarySentences": 2})
    words = {w["word"]: w["count"] for w in result["wordFrequencies"]}
    assert words["人工智能"] == 3 and words["自然语言"] == 2 and words["机器"] == 2
    assert "的" not in words and "了" not in words
    assert result["keywords"][0]["word"] in {"人工智能", "机器", "自然语言"}
    assert result["stats"]["sentences"] == 5 and result["stats"]["cjkCharacters"] > 50
    assert len(result["summarySentences"]) == 2
    assert all(s in CHINESE for s in result["summarySentences"])


def test_english_analysis_drops_stopwords():
    result = analyse(ENGLISH, {})
    assert result["language"] == "en"
    assert result["wordFrequencies"][0] == {"word": "workflows", "count": 4}
    assert "the" not in {w["word"] for w in result["wordFrequencies"]}
    assert result["summary"]


def test_basic_analysis_has_no_keywords_or_summary():
    result = analyse(ENGLISH, {"analysisType": "basic"})
    assert "keywords" not in result and "summary" not in result and result["stats"]["words"] > 10


def test_it_reads_posts_and_comments_from_a_download_output(make_context):
    download_output = {
        "posts": [
            {"text": "第一条：人工智能大会在北京召开。", "comments": [{"text": "人工智能真厉害！"}]},
            {"text": "第二条：机器学习课程开始了。"},
        ],
        "counts": {"total": 3, "downloaded": 3},
        "files": [{"name": "a.png", "size": 10, "sha256": "x", "url": "http://h/a.png", "path": "/tmp/a.png"}],
    }
    result = content_analysis.run(
        {"analysisType": "comprehensive", "generateSummary": True}, download_output, make_context()
    )
    assert result["source"] == "input posts" and result["documents"] == 2
    assert "人工智能" in {w["word"] for w in result["wordFrequencies"]}
    assert result["counts"]["downloaded"] == 3 and result["files"][0]["name"] == "a.png"
    assert result["summary"]


def test_main_text_of_html_leaves_out_navigation(make_context):
    page = (
        "<html><head><title>Story</title><script>var x = 1;</script></head><body>"
        "<nav><a href='/'>Home</a> Menu items everywhere</nav>"
        "<article><h1>Headline</h1><p>The actual story text is here.</p><p>Second paragraph.</p></article>"
        "<footer>Copyright</footer></body></html>"
    )
    result = content_analysis.run({"html": page}, None, make_context())
    assert result["title"] == "Story"
    assert "actual story text" in result["mainText"] and "Menu" not in result["mainText"]
    assert "Copyright" not in result["mainText"] and "var x" not in result["mainText"]


def test_it_fetches_a_page_when_given_a_url(sandbox, make_context):
    result = content_analysis.run({"url": f"{sandbox}/news/welcome/"}, None, make_context())
    assert "Welcome to the WebAuto sandbox" in result["mainText"]


def test_no_text_is_a_clear_error(make_context):
    with pytest.raises(NodeError, match="found no text"):
        content_analysis.run({}, {"unrelated": 1}, make_context())
