"""The documentation holds together: a short README that links every docs page, relative links and anchors that
resolve, and a generated list of test modules that is current.

Pure Python on the repository's Markdown files: no server, no pipeline run.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
README_MAX_BYTES = 12_000
TEST_COMMAND = "make test   # lint (ruff) and the test suite; CI (.ci/run) runs exactly this"

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1)[\s\S])+?\1")  # a code span may run over a line break
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def links(text: str) -> list[str]:
    """Every inline link or image target in the prose (code spans and fenced blocks left out), paragraph by paragraph
    so that a link whose text wraps onto the next line is found too."""
    paragraphs = "\n".join(prose_lines(text)).split("\n\n")
    return [match.group(1) for paragraph in paragraphs for match in LINK.finditer(INLINE_CODE.sub("", paragraph))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link syntax reduced to its text, lowercase, punctuation dropped except hyphens
    and underscores, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return "".join(char for char in text if char.isalnum() or char in "-_ ").replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown file's headings; a repeated heading's later ones get -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(text):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    """The relative links of `page` whose file, folder or heading does not exist, each with the reason."""
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if SCHEME.match(target):
            continue  # http(s), mailto: not checked here
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not destination.exists():
            problems.append(f"{page.name}: {target} -> {destination} does not exist")
        elif anchor and destination.suffix == ".md" and unquote(anchor) not in anchors(
                destination.read_text(encoding="utf-8")):
            problems.append(f"{page.name}: {target} -> no heading #{anchor} in {destination.name}")
    return problems


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def docs_tests_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_tests", REPO / "tools" / "docs_tests.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_short_and_keeps_the_test_command():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; at most {README_MAX_BYTES}: move detail to docs/"
    assert TEST_COMMAND in README.read_text(encoding="utf-8"), "CI (.ci/run) runs the README's test command"


def test_readme_links_every_docs_page():
    linked = {(README.parent / unquote(target.partition("#")[0])).resolve()
              for target in links(README.read_text(encoding="utf-8")) if not SCHEME.match(target)}
    docs = sorted(DOCS.glob("*.md"))
    assert len(docs) >= 10, f"expected the docs pages, found {[page.name for page in docs]}"
    missing = [page.name for page in docs if page.resolve() not in linked]
    assert not missing, f"docs pages not linked from README.md: {missing}"


def test_every_relative_link_and_anchor_resolves():
    found = [target for page in pages() for target in links(page.read_text(encoding="utf-8"))
             if not SCHEME.match(target)]
    assert len(found) > 20, f"the link walker found only {len(found)} relative links: is it still reading them?"
    assert any("#" in target for target in found), "no anchor link found: the anchor check would check nothing"
    problems = [problem for page in pages() for problem in broken_links(page)]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_generated_list_of_test_modules_is_current():
    tool = docs_tests_tool()
    text = (REPO / tool.DOC).read_text(encoding="utf-8")
    expected = tool.render(REPO)
    assert "test_docs.py" in expected and expected.count("\n| [`test_") > 20, "the generator lists too few modules"
    assert tool.current_block(text) == expected, "docs/tests.md is stale: run `python tools/docs_tests.py --write`"


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Results on the default cohort (from `reports/` as committed)",
     "results-on-the-default-cohort-from-reports-as-committed"),
    ("CI/CD", "cicd"),
    ("100,000 visits before and after the scale-out work (2026-12-06)",
     "100000-visits-before-and-after-the-scale-out-work-2026-12-06"),
    ("What training and serving share (`triage_shared`)", "what-training-and-serving-share-triage_shared"),
    ("The [service](x.md) — its API", "the-service--its-api"),
])
def test_slugs_follow_github(heading: str, anchor: str):
    assert slug(heading) == anchor


def test_the_checker_catches_what_it_should(tmp_path: Path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A section\n\n```\n# not a heading\n```\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n[ok](other.md#a-section) [ok](#page) [web](https://example.org/x)\n"
                    "[gone](missing.md) [bad anchor](other.md#nowhere) [code heading](other.md#not-a-heading)\n"
                    "`[in code](missing-too.md)`\n\n```\n[fenced](missing-three.md)\n```\n"
                    "A link whose text [wraps onto\nthe next line](wrapped.md) and `a code span\nover two lines`.\n",
                    encoding="utf-8")
    problems = broken_links(page)
    assert len(problems) == 4, problems
    assert any("wrapped.md" in p for p in problems)
    assert any("missing.md" in p for p in problems) and any("#nowhere" in p for p in problems)
    assert any("#not-a-heading" in p for p in problems)


def test_the_generator_reads_docstrings_and_markers(tmp_path: Path):
    tool = docs_tests_tool()
    assert tool.first_sentence("Does a thing: with `a.b` inside. Then more.\n\nDetails.") == \
        "Does a thing: with `a.b` inside."
    assert tool.first_sentence(None) == tool.NO_DOCSTRING
    (tmp_path / "tests" / "fast").mkdir(parents=True)
    (tmp_path / "tests" / "fast" / "test_a.py").write_text('"""Checks a | b. More."""\n', encoding="utf-8")
    (tmp_path / "tests" / "fast" / "test_b.py").write_text(
        '"""Slow one."""\nimport pytest\npytestmark = pytest.mark.slow\n', encoding="utf-8")
    block = tool.render(tmp_path)
    assert "| [`test_a.py`](../tests/fast/test_a.py) | yes | Checks a \\| b. |" in block
    assert "| [`test_b.py`](../tests/fast/test_b.py) | no | Slow one. |" in block
    text = f"before\n{tool.BEGIN}\nold\n{tool.END}\nafter\n"
    assert tool.current_block(tool.replace_block(text, block)) == block
    with pytest.raises(ValueError):
        tool.current_block("no markers here")
