"""Content analysis: main text, word and keyword frequencies (jieba for
Chinese), language, length statistics and an extractive summary."""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from typing import Any

from orchestration.context import NodeError, RunContext
from orchestration.registry import NodeKind
from webflows import fetch, html

CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
KANA = re.compile(r"[\u3040-\u30ff]")
HANGUL = re.compile(r"[\uac00-\ud7af]")
LATIN_WORD = re.compile(r"[A-Za-z]+")
WORD = re.compile(r"^[\w\u4e00-\u9fff\u3400-\u4dbf]+$")
SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|(?<=\.)\s+|\n+")

STOPWORDS_ZH = set(
    "的 了 和 是 就 都 而 及 与 着 或 一个 没有 我们 你们 他们 她们 它们 这 那 这个 那个 这些 那些 在 也 有 "
    "很 还 把 被 让 给 对 从 到 为 以 于 上 下 中 之 其 并 但 如果 因为 所以 可以 已经 一些 什么 自己 "
    "我 你 他 她 它 吗 呢 吧 啊 哦 呀 么 个 条 去 来 会 要 说 又 再 更 最 等 各 每 之后 之前 今天 大家 "
    "非常 还是 以及 不是 没 不 被 将 能 向 这样 那样 哪 谁 怎么 为什么 一下 一起 进行 通过 关于 全文".split()
)
STOPWORDS_EN = set(
    "a an the and or but if then else of to in on at by for with from as is are was were be been being "
    "it its this that these those there here i you he she we they them his her our your their my me us "
    "not no yes do does did done have has had will would can could should may might must shall about into "
    "over under than so such too very just also only more most some any each every all both few many much "
    "what which who whom whose when where why how up down out off again further once own same other".split()
)

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "analysisType": {
            "enum": ["basic", "keywords", "summary", "comprehensive"],
            "description": "basic: language and statistics; keywords: + word/keyword frequencies; "
            "summary: + summary; comprehensive: everything (default).",
        },
        "generateSummary": {"type": "boolean", "description": "Add an extractive summary (default true)."},
        "summarySentences": {"type": "integer", "minimum": 1, "maximum": 50},
        "topKeywords": {"type": "integer", "minimum": 1, "maximum": 500},
        "text": {"type": "string", "description": "Analyse this text instead of the input."},
        "html": {"type": "string", "description": "Analyse the main text of this HTML instead of the input."},
        "url": {"type": "string", "description": "Fetch this page and analyse its main text."},
        "language": {"enum": ["auto", "zh", "en"], "description": "Skip detection (default auto)."},
        "stopwords": {"type": "array", "items": {"type": "string"}, "description": "Extra words to ignore."},
    },
    "additionalProperties": False,
}

OUTPUT_DESCRIPTION = (
    "{language, languageConfidence, title, mainText, stats: {characters, charactersNoSpaces, cjkCharacters, "
    "latinWords, words, uniqueWords, sentences, paragraphs, averageSentenceLength}, wordFrequencies: "
    "[{word, count}], keywords: [{word, weight}], summary, summarySentences, documents, source, counts}"
)

_jieba_lock = threading.Lock()
_jieba_ready = False


def _jieba():
    """jieba, initialised once per process (it builds its dictionary on first use)."""
    global _jieba_ready
    import jieba
    import jieba.analyse

    with _jieba_lock:
        if not _jieba_ready:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba_ready = True
    return jieba


def detect_language(text: str) -> tuple[str, float]:
    """Script-based detection: (code, share of letters in that script)."""
    cjk = len(CJK.findall(text))
    kana = len(KANA.findall(text))
    hangul = len(HANGUL.findall(text))
    latin = sum(len(w) for w in LATIN_WORD.findall(text))
    total = cjk + kana + hangul + latin
    if total == 0:
        return "unknown", 0.0
    if kana and kana >= cjk * 0.1:
        return "ja", round((kana + cjk) / total, 3)
    scores = {"zh": cjk, "ko": hangul, "en": latin}
    best = max(scores, key=lambda k: scores[k])
    return best, round(scores[best] / total, 3)


# URLs, e-mail addresses and bare domains, removed before segmentation so that
# their pieces (https, www, com, 2024, 1130.html) never become words.
URL_LIKE = re.compile(
    r"(?:[a-z][a-z0-9+.-]*://|www\.)[^\s\u3000-\u303f\uff01-\uff5e<>\"']+"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|cn|gov|edu|io|info|html?|php|aspx?)\b[^\s\u3000-\u303f\uff01-\uff5e]*",
    re.IGNORECASE,
)
# Pieces of web addresses that survive as words when a URL is broken up.
URL_PIECES = {"http", "https", "www", "com", "cn", "net", "org", "html", "htm", "php", "aspx", "jsp"}
# Numbers in any form: 2024, 5.2%, 1,000, ５, 3rd, 2024年 and 30日 are numbers
# with a unit, not keywords.
NUMBER_LIKE = re.compile(
    r"^[\d０-９.,%％+\-]+(?:st|nd|rd|th|[年月日号時时分秒点%％万亿千百])?$", re.IGNORECASE
)


def strip_urls(text: str) -> str:
    """``text`` with URLs, e-mail addresses and bare domains replaced by a space."""
    return URL_LIKE.sub(" ", text)


def keep_token(token: str, stop: set[str]) -> bool:
    """The one token filter that word frequencies and keywords share.

    Drops: stopwords (compared case-folded); tokens without a letter or
    CJK character (punctuation, symbols); numbers, percentages and
    numbers with a date or counting unit (2024, 5.2%, 11月); pieces of web
    addresses (https, www, com, html); single Chinese characters (mostly
    particles); Latin words shorter than 3 letters (one-letter ones always).
    """
    word = token.strip()
    folded = word.casefold()
    if not word or folded in stop or folded in URL_PIECES:
        return False
    if not WORD.match(word) or NUMBER_LIKE.match(word):
        return False
    if not any(ch.isalpha() for ch in word):
        return False
    if CJK.search(word):
        return len(word) >= 2
    return len(word) >= 3


def tokenize(text: str, language: str) -> list[str]:
    """Words of ``text`` (URLs stripped first; jieba for CJK text), case-folded."""
    text = strip_urls(text)
    if language in ("zh", "ja") or CJK.search(text):
        tokens = _jieba().lcut(text)
    else:
        tokens = re.findall(r"[A-Za-z][A-Za-z'-]*|\d+", text)
    return [t.strip().casefold() for t in tokens if t.strip() and WORD.match(t.strip())]


def content_words(tokens: list[str], extra_stopwords: set[str]) -> list[str]:
    """The tokens that :func:`keep_token` keeps."""
    stop = STOPWORDS_ZH | STOPWORDS_EN | {w.casefold() for w in extra_stopwords}
    return [token for token in tokens if keep_token(token, stop)]


def sentences_of(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s and len(s.strip()) > 1]


def summarize(sentences: list[str], frequencies: Counter[str], language: str, count: int) -> list[str]:
    """The ``count`` sentences with the highest average content-word frequency, in text order."""
    if len(sentences) <= count:
        return sentences
    top = frequencies.most_common(1)[0][1] if frequencies else 1
    scored = []
    for index, sentence in enumerate(sentences):
        words = [w for w in tokenize(sentence, language) if w in frequencies]
        if not words:
            continue
        score = sum(frequencies[w] / top for w in words) / math.sqrt(len(words))
        scored.append((score, index))
    chosen = sorted(index for _, index in sorted(scored, reverse=True)[:count])
    return [sentences[i] for i in chosen]


def _source_text(config: dict[str, Any], input: Any) -> tuple[str, str, str, int]:
    """(title, text, where it came from, number of documents)."""
    if config.get("text"):
        return "", str(config["text"]), "config.text", 1
    if config.get("html"):
        title, text = html.main_text(str(config["html"]))
        return title, text, "config.html", 1
    if config.get("url"):
        with fetch.make_client() as client:
            response = fetch.get(client, str(config["url"]))
        content_type = response.headers.get("content-type", "")
        if not fetch.is_text_content(content_type, response.content):
            raise NodeError(
                f"{response.url} answered with {content_type.split(';')[0] or 'binary data'}, not text to analyse",
                retryable=False,
            )
        title, text = html.main_text(fetch.response_text(response))
        return title, text, str(response.url), 1
    if isinstance(input, str):
        if "<" in input and ">" in input:
            title, text = html.main_text(input)
            return title, text, "input html", 1
        return "", input, "input text", 1
    if isinstance(input, dict):
        posts = input.get("posts")
        if isinstance(posts, list) and posts:
            texts = []
            for post in posts:
                if isinstance(post, dict):
                    texts.append(str(post.get("text") or ""))
                    texts.extend(str(c.get("text") or "") for c in post.get("comments") or [] if isinstance(c, dict))
            return "", "\n".join(t for t in texts if t), "input posts", len(posts)
        for key in ("mainText", "text", "content"):
            if isinstance(input.get(key), str) and input[key].strip():
                return str(input.get("title") or ""), input[key], f"input {key}", 1
        if isinstance(input.get("html"), str):
            title, text = html.main_text(input["html"])
            return title, text, "input html", 1
        items = input.get("items") or input.get("added")
        if isinstance(items, list) and items:
            return str(input.get("title") or ""), "\n".join(str(i) for i in items), "input items", len(items)
    raise NodeError(
        "content analysis found no text: give config.text/html/url, or an input with text, html, posts or items",
        retryable=False,
    )


def analyse(text: str, config: dict[str, Any]) -> dict[str, Any]:
    analysis_type = config.get("analysisType", "comprehensive")
    language, confidence = detect_language(text)
    if config.get("language", "auto") != "auto":
        language, confidence = config["language"], 1.0
    tokens = tokenize(text, language)
    words = content_words(tokens, {w.lower() for w in config.get("stopwords") or []})
    frequencies = Counter(words)
    sentences = sentences_of(text)
    paragraphs = [p for p in text.split("\n") if p.strip()]
    result: dict[str, Any] = {
        "analysisType": analysis_type,
        "language": language,
        "languageConfidence": confidence,
        "stats": {
            "characters": len(text),
            "charactersNoSpaces": len(re.sub(r"\s", "", text)),
            "cjkCharacters": len(CJK.findall(text)),
            "latinWords": len(LATIN_WORD.findall(text)),
            "words": len(tokens),
            "uniqueWords": len(set(tokens)),
            "sentences": len(sentences),
            "paragraphs": len(paragraphs),
            "averageSentenceLength": round(len(text) / len(sentences), 1) if sentences else 0,
        },
    }
    top = int(config.get("topKeywords", 20))
    if analysis_type in ("keywords", "comprehensive"):
        result["wordFrequencies"] = [{"word": w, "count": c} for w, c in frequencies.most_common(top)]
        if CJK.search(text):
            import jieba.analyse

            _jieba()
            tags = jieba.analyse.extract_tags(strip_urls(text), topK=top * 3, withWeight=True)
            stop = STOPWORDS_ZH | STOPWORDS_EN | {w.casefold() for w in config.get("stopwords") or []}
            keywords = []
            seen: set[str] = set()
            for w, s in tags:
                word = w.strip().casefold()
                if keep_token(word, stop) and word not in seen:
                    seen.add(word)
                    keywords.append({"word": word, "weight": round(float(s), 4)})
            keywords = keywords[:top]
        else:
            total = sum(frequencies.values()) or 1
            keywords = [{"word": w, "weight": round(c / total, 4)} for w, c in frequencies.most_common(top)]
        result["keywords"] = keywords
    if config.get("generateSummary", True) and analysis_type in ("summary", "comprehensive"):
        chosen = summarize(sentences, frequencies, language, int(config.get("summarySentences", 3)))
        result["summarySentences"] = chosen
        result["summary"] = ("" if language in ("zh", "ja") else " ").join(chosen)
    return result


def run(config: dict[str, Any], input: Any, context: RunContext) -> dict[str, Any]:
    title, text, source, documents = _source_text(config, input)
    if not text.strip():
        raise NodeError(f"content analysis: the text from {source} is empty", retryable=False)
    result = analyse(text, config)
    result.update({"title": title, "mainText": text[:20000], "source": source, "documents": documents})
    if isinstance(input, dict) and isinstance(input.get("counts"), dict):
        result["counts"] = input["counts"]
    if isinstance(input, dict) and isinstance(input.get("files"), list):
        result["files"] = [
            {k: f.get(k) for k in ("name", "size", "sha256", "url")} for f in input["files"] if isinstance(f, dict)
        ]
    context.log(f"analysed {len(text)} characters ({result['language']}) from {source}")
    return result


KIND = NodeKind(
    name="content-analysis",
    run=run,
    config_schema=CONFIG_SCHEMA,
    output_description=OUTPUT_DESCRIPTION,
    description="Main text, word and keyword frequencies (jieba for Chinese), language, statistics and an "
    "extractive summary of its input.",
    aliases=("content-analysis-workflow",),
    example={"url": "http://127.0.0.1:8000/sandbox/news/", "analysisType": "comprehensive", "topKeywords": 10},
)
