"""Extraction benchmark (issue #4 items 2, 3 and 7).

    python bench/extraction.py CORPUS_DIR [--json FILE] [--repeat N]

CORPUS_DIR holds one folder per page with ``source.html``, ``expected.html`` and
optionally ``expected-metadata.json`` (the layout of Mozilla Readability's test pages).
Scoring follows the public article-extraction benchmarks: tokens are runs of ``\\w``, each
text is a multiset of 4-token shingles, per page P = matched/predicted and
R = matched/expected; P and R are averaged over pages and F1 is taken from the two averages.
Raw readability-lxml (``Document(html).summary()``) runs in the same process as baseline.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from readability import Document

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feedsvc.errors import ExtractError
from feedsvc.extract import extract_article
from feedsvc.extract.clean import visible_text

URL = "http://fakehost/test/page.html"
_TOKENS = re.compile(r"\w+")


def shingles(text: str, n: int) -> Counter[tuple[str, ...]]:
    """Multiset of n-token shingles of ``text`` (a short text is one shingle)."""
    tokens = _TOKENS.findall(text)
    if len(tokens) < n:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def precision_recall(predicted: str, expected: str, n: int) -> tuple[float, float]:
    """Per-page P and R over n-token shingles."""
    pred, exp = shingles(predicted, n), shingles(expected, n)
    matched = sum((pred & exp).values())
    p = matched / sum(pred.values()) if pred else (1.0 if not exp else 0.0)
    r = matched / sum(exp.values()) if exp else (1.0 if not pred else 0.0)
    return p, r


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _norm(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip().casefold()


def _byline_match(expected: str, got: str | None) -> bool:
    exp = re.sub(r"^by\s+", "", _norm(expected))
    return bool(got) and (re.sub(r"^by\s+", "", _norm(got)) == exp)


def run(corpus: Path, repeat: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    meta_hits: dict[str, list[bool]] = {"title": [], "byline": [], "published": []}
    t_ours = t_raw = 0.0
    for page in sorted(p for p in corpus.iterdir() if (p / "source.html").is_file()):
        source = (page / "source.html").read_bytes()
        expected = visible_text((page / "expected.html").read_text("utf-8", "replace"))
        row: dict[str, Any] = {"page": page.name}
        start = time.perf_counter()
        try:
            for _ in range(repeat):
                art = extract_article(source, URL, time_budget=None)
            ours = art.text
        except ExtractError as exc:
            art, ours, row["error"] = None, "", str(exc)[:120]
        t_ours += time.perf_counter() - start
        start = time.perf_counter()
        try:
            for _ in range(repeat):
                summary = Document(source).summary()
            raw = visible_text(summary)
        except Exception as exc:  # the baseline may crash; we only record it
            raw, row["raw_error"] = "", str(exc)[:120]
        t_raw += time.perf_counter() - start
        for name, text in (("ours", ours), ("raw", raw)):
            p, r = precision_recall(text, expected, 4)
            p1, r1 = precision_recall(text, expected, 1)
            row[name] = {"p": p, "r": r, "f1": f1(p, r), "f1_token": f1(p1, r1)}
        meta_file = page / "expected-metadata.json"
        if meta_file.is_file() and art is not None:
            meta = json.loads(meta_file.read_text("utf-8"))
            if meta.get("title"):
                meta_hits["title"].append(_norm(meta["title"]) == _norm(art.title))
            if meta.get("byline"):
                meta_hits["byline"].append(_byline_match(meta["byline"], art.author))
            if meta.get("publishedTime"):
                exp_day = str(meta["publishedTime"])[:10]
                meta_hits["published"].append(
                    art.published is not None and art.published.date().isoformat() == exp_day)
        rows.append(row)
    summary: dict[str, Any] = {"pages": len(rows), "errors": sum("error" in r for r in rows)}
    for name in ("ours", "raw"):
        mp = sum(r[name]["p"] for r in rows) / len(rows)
        mr = sum(r[name]["r"] for r in rows) / len(rows)
        summary[name] = {
            "precision": mp, "recall": mr, "f1": f1(mp, mr),
            "mean_page_f1": sum(r[name]["f1"] for r in rows) / len(rows),
            "f1_token": sum(r[name]["f1_token"] for r in rows) / len(rows),
        }
    summary["seconds_ours"] = t_ours
    summary["seconds_raw"] = t_raw
    summary["speed_ratio"] = t_ours / t_raw if t_raw else None
    summary["pages_per_second_ours"] = len(rows) * repeat / t_ours if t_ours else None
    summary["worse_than_raw_by_more_than_0.05"] = [
        r["page"] for r in rows if r["ours"]["f1"] < r["raw"]["f1"] - 0.05]
    summary["metadata_match"] = {
        k: {"rate": (sum(v) / len(v)) if v else None, "pages": len(v)}
        for k, v in meta_hits.items()}
    return {"summary": summary, "pages": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "extraction.json")
    parser.add_argument("--repeat", type=int, default=1, help="runs per page for timing")
    args = parser.parse_args(argv)
    result = run(args.corpus, args.repeat)
    print(f"{'page':40} {'F1':>6} {'raw F1':>6} {'P':>6} {'R':>6} {'tokF1':>6}")
    for row in result["pages"]:
        o, r = row["ours"], row["raw"]
        flag = " <" if o["f1"] < r["f1"] - 0.05 else ""
        err = f"  ERROR {row['error']}" if "error" in row else ""
        print(f"{row['page'][:40]:40} {o['f1']:6.3f} {r['f1']:6.3f} {o['p']:6.3f} {o['r']:6.3f} "
              f"{o['f1_token']:6.3f}{flag}{err}")
    s = result["summary"]
    for name in ("ours", "raw"):
        m = s[name]
        print(f"{name:5} P={m['precision']:.4f} R={m['recall']:.4f} F1={m['f1']:.4f} "
              f"mean page F1={m['mean_page_f1']:.4f} token F1={m['f1_token']:.4f}")
    print(f"time ours {s['seconds_ours']:.2f}s raw {s['seconds_raw']:.2f}s "
          f"ratio {s['speed_ratio']:.3f}  ({s['pages_per_second_ours']:.1f} pages/s, one core)")
    print(f"pages worse than raw by > 0.05: {s['worse_than_raw_by_more_than_0.05']}")
    print(f"errors: {s['errors']}")
    for k, v in s["metadata_match"].items():
        rate = "n/a" if v["rate"] is None else f"{v['rate']:.1%}"
        print(f"metadata {k}: {rate} of {v['pages']} pages")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
