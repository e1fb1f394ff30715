"""Blessing: absolute thresholds and the comparison with the last blessed model.

The thresholds are ``cloze.config.EvalConfig``, the ``eval`` section of the
pipeline config.
"""
import dataclasses
import html
from typing import List, Optional

from cloze.config import EvalConfig
from cloze.evaluation.metrics import MaskedLmMetrics


@dataclasses.dataclass(frozen=True)
class Check:
    """One blessing rule applied: its name, whether it passed, and the numbers."""

    name: str
    passed: bool
    detail: str


@dataclasses.dataclass(frozen=True)
class Judgement:
    """The verdict and every check behind it."""

    blessed: bool
    checks: List[Check]

    def describe(self) -> str:
        verdict = "BLESSED" if self.blessed else "NOT BLESSED"
        return "; ".join([verdict] + [f"{c.name}: {'ok' if c.passed else 'FAILED'} ({c.detail})"
                                      for c in self.checks])


def judge(candidate: MaskedLmMetrics, thresholds: EvalConfig,
          baseline: Optional[MaskedLmMetrics] = None) -> Judgement:
    """Applies the thresholds, and the baseline comparison when there is a baseline.

    Example:
    >>> good = MaskedLmMetrics(2.0, 7.39, 0.5, 0.8, 100.0, 10)
    >>> worse = MaskedLmMetrics(3.0, 20.1, 0.3, 0.6, 100.0, 10)
    >>> judge(good, EvalConfig(min_accuracy=0.4)).blessed
    True
    >>> judge(worse, EvalConfig(), baseline=good).describe()
    'NOT BLESSED; loss vs baseline: FAILED (3.0000 > 2.0000 + 0.0000)'
    """
    checks = []
    for name, value, limit, higher_is_better in (
            ("perplexity", candidate.perplexity, thresholds.max_perplexity, False),
            ("accuracy", candidate.accuracy, thresholds.min_accuracy, True),
            ("top5_accuracy", candidate.top5_accuracy, thresholds.min_top5_accuracy, True)):
        if limit is None:
            continue
        passed = value >= limit if higher_is_better else value <= limit
        relation = (">=" if passed else "<") if higher_is_better else ("<=" if passed else ">")
        checks.append(Check(name, passed, f"{value:.4f} {relation} {limit:.4f}"))
    if baseline is not None and thresholds.max_loss_increase is not None:
        limit = baseline.loss + thresholds.max_loss_increase
        passed = candidate.loss <= limit
        checks.append(Check("loss vs baseline", passed,
                            f"{candidate.loss:.4f} {'<=' if passed else '>'} "
                            f"{baseline.loss:.4f} + {thresholds.max_loss_increase:.4f}"))
    return Judgement(blessed=all(c.passed for c in checks), checks=checks)


def html_report(candidate: MaskedLmMetrics, judgement: Judgement,
                baseline: Optional[MaskedLmMetrics] = None, title: str = "Cloze evaluation") -> str:
    """A small self-contained HTML page: the verdict, the checks and the metrics side by side.

    Example:
    >>> m = MaskedLmMetrics(2.0, 7.39, 0.5, 0.8, 100.0, 10)
    >>> "<td>0.5000</td>" in html_report(m, judge(m, EvalConfig()))
    True
    """
    columns = ["candidate"] + (["baseline"] if baseline is not None else [])
    rows = []
    for field in dataclasses.fields(MaskedLmMetrics):
        values = [candidate] + ([baseline] if baseline is not None else [])
        cells = "".join(f"<td>{getattr(v, field.name):.4f}</td>" for v in values)
        rows.append(f"<tr><th>{field.name}</th>{cells}</tr>")
    checks = "".join(
        f"<li>{html.escape(c.name)}: {'ok' if c.passed else '<b>FAILED</b>'} "
        f"({html.escape(c.detail)})</li>" for c in judgement.checks) or "<li>no checks</li>"
    verdict = "BLESSED" if judgement.blessed else "NOT BLESSED"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body><h1>{html.escape(title)}: {verdict}</h1><ul>{checks}</ul>"
            f"<table border='1'><tr><th>metric</th>"
            + "".join(f"<th>{c}</th>" for c in columns) + "</tr>" + "".join(rows)
            + "</table></body></html>")
