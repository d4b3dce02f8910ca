"""The code of README.md and of every page in docs/, read from the pages and run as written.

Issue #13 for the README; issue #20 added the docs pages, which follow the same rules and
run in the same session, after the README. The rules every page's code follows
(docs/development.md states them in short):

* Every fenced block has an info string: ``bash`` (commands), ``json`` or ``yaml`` (must
  parse) or ``text`` (shown as is, e.g. output; not checked). Any other fails this test.
* A ``bash`` block holds one command a line; a trailing backslash continues it. A line
  starting with ``#`` is a note and is not run; right after a server command it is the
  first line the server prints. A command whose comment starts with ``# example:`` needs
  the reader's own values (an account, a URL): it is not run, only its syntax is checked.
* Inline code in prose is a command too when it starts with one of PROGRAMS followed by
  arguments, or with an executable file of the repository (``scripts/test``, ``bench/run``,
  ``.venv/bin/python -m ...``; a bare path into a virtualenv is only a name). An inline
  command holding ``…`` or a ``<placeholder>`` is an example. In an example, ``<...>`` is
  one placeholder word, and names holding placeholders are not looked up.
* A command may start with ``NAME=value`` assignments.

Checked without running anything slow: the info strings, that JSON and YAML blocks parse,
that every command's program exists and ``bash -n`` accepts it, and that every ``meltano``
command gets through Meltano's own command-line parser (so a Meltano 3 spelling such as
``meltano config PLUGIN set`` fails) and names plugins, settings, jobs, schedules and
state ids that meltano.yml declares. The README's first screen holds exactly the two
set-up commands (SET_UP_COMMANDS), the README stays within README_MAX_LINES and links every
docs page, and every relative link points to a file (and a heading) that exists.

Run (``e2e``): every command that is not an example, page by page (``pages()``: the README, then
the docs pages by name, DOCS_LAST at the end), in page order, in one throw-away
copy of the project with ``.venv`` and ``.venv-meltano`` linked in (as after the README's
set-up command), from the copy's root, through ``bash -c``; each must exit 0. Environment
and substitutions:

* PATH: a fresh virtualenv first (the reader's own, which ``pip install`` fills), then
  ``.venv-meltano/bin`` and ``.venv/bin``. ``export NAME=...`` lines carry over to the
  commands after them.
* The reader's values: ``SUPERMETRICS_API_KEY`` (the emulator's key) and ``PGUSER``,
  ``PGPASSWORD``, ``PGHOST``, ``PGPORT`` (a throw-away PostgreSQL's, which ``psql`` uses).
  Meltano finds the emulator through ``TAP_SUPERMETRICS_BASE_URL`` and PostgreSQL through
  ``TARGET_POSTGRES_HOST`` and ``_PORT``. So that Meltano commands before the README's
  "Usage with Meltano" find the set-up that section describes, the values its
  ``meltano config set`` lines store are in the environment as well
  (``TAP_SUPERMETRICS_API_KEY``, ``TARGET_POSTGRES_USER`` and ``_PASSWORD``), and
  ``meltano run`` installs missing plugins itself. ``TMPDIR`` is the test's temp
  directory. Inherited ``MELTANO_*``, ``TAP_SUPERMETRICS_*``, ``TARGET_*`` and ``PG*``
  variables are dropped.
* Meltano runs in meltano.yml's ``demo`` environment (``MELTANO_ENVIRONMENT``,
  READER_ENVIRONMENT): the pages are written for the reader's own estate in the default
  environment, ``dev``, which pins no dates and holds an example query, while ``demo``
  holds the emulator's accounts and fixed dates. So a state id written for the default
  environment (``dev:<tap>-to-<target>``) runs as ``demo:<tap>-to-<target>``.
* A server command (SERVERS) runs in the background until its block ends. Its ``--port N``
  becomes a free port, in its own line and as ``:N`` in the block's later lines and notes
  (blocks are told apart per page).
* STAND_INS: the commands a test cannot run, why, and what runs in their place.
* ONCE: the commands that run only the first time they appear, why a second run would
  prove nothing more, and so are skipped when they appear again as written.
* CHECKS: what some commands must print, besides exiting 0.

With ``-s`` the run prints each command's seconds, and the costliest ones at the end.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

README = ROOT / "README.md"
#: The Meltano environment the pages' commands run in, and the default one they are written for.
READER_ENVIRONMENT = "demo"
WRITTEN_ENVIRONMENT = "dev"
DOCS = ROOT / "docs"
#: Docs pages run after all others, in this order: their commands rename or drop a table
#: and clear the saved state, which the other pages' commands rely on.
DOCS_LAST = ("account-ids.md",)
#: The README is the front door: deep topics go to docs/ (one line and a link here).
README_MAX_LINES = 250
#: The README's first screen: its first bash block, within these lines, holds exactly
#: the two set-up commands.
FIRST_SCREEN_LINES = 25
SET_UP_COMMANDS = ("scripts/demo", "scripts/test")
MELTANO_PYTHON = ROOT / ".venv-meltano" / "bin" / "python"
INFO_STRINGS = ("bash", "json", "yaml", "text")
PROGRAMS = ("meltano", "tap-supermetrics", "supermetrics-emulator", "pip", "curl")
SERVERS = ("supermetrics-emulator",)
EXAMPLE = re.compile(r"(?:^|\s)#\s*example:")
PLACEHOLDER = re.compile(r"…|<[^<>]+>")
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)")
SPAN = re.compile(r"(`+)(.+?)\1")
RULES = "Rules for code in README.md and docs/: see the docstring of tests/docs/test_readme.py"
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^()\s]+)\)")

# Not copied into the throw-away project: version control, virtualenvs (linked instead),
# what Meltano and the demo write, and a developer's own .env.
NOT_COPIED = {
    ".git", ".venv", ".venv-meltano", ".venv-dagster", ".dagster", ".meltano", ".env",
    "output", "demo-output",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", "build", "dist",
}  # fmt: skip
DROPPED_ENV = (
    "MELTANO_", "TAP_SUPERMETRICS_", "TARGET_", "SUPERMETRICS_", "PG", "PYTEST_",
    "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME",
)  # fmt: skip

# Plugins a name may refer to besides meltano.yml's: Meltano's own settings.
MELTANO_ITSELF = "meltano"

# Commands the README and the docs pages must keep showing, so that this test keeps
# running them.
REQUIRED = (
    r"^scripts/demo\b",
    r"^pip install -e \.",
    r"^tap-supermetrics --about\b",
    r"^meltano install\b",
    r"^meltano config set tap-supermetrics api_key ",
    r"^meltano select tap-supermetrics\b.*--list",
    r"^meltano run ",
    r"^meltano job list\b",
    r"^meltano schedule list\b",
    r"^meltano schedule run ",
    r"^meltano state get ",
    r"supermetrics-emulator ",
    r"^curl ",
    r"^bench/run\b",
)

# Meltano's command-line parser, run in Meltano's virtualenv: for each argument list,
# either the error Meltano would print or the command path and its parsed parameters.
# Nothing is invoked (ctx.obj carries no project, which parameter callbacks accept).
PARSE_WITH_MELTANO = r"""
import json, sys
import click
from meltano.cli import cli

def parse(args):
    try:
        ctx = cli.make_context("meltano", list(args), obj={"project": None})
        command, path = cli, ["meltano"]
        while isinstance(command, click.Group):
            rest = getattr(ctx, "_protected_args", None)
            rest = [*(ctx.protected_args if rest is None else rest), *ctx.args]
            if not rest:
                return {"error": " ".join(path) + " needs a subcommand"}
            name, command, rest = command.resolve_command(ctx, rest)
            path.append(name)
            ctx = command.make_context(name, rest, parent=ctx)
    except click.exceptions.Exit:
        return {"path": [], "params": {}}
    except click.ClickException as error:
        return {"error": error.format_message()}
    return {"path": path, "params": ctx.params}

with open(sys.argv[1], "w") as out:
    json.dump([parse(args) for args in json.load(sys.stdin)], out, default=repr)
"""


@dataclass
class Block:
    info: str
    lines: list[str]
    line: int  # of the opening fence
    section: str
    closed: bool
    page: str = "README.md"  # relative to the repository root

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line} ({self.section})"


@dataclass
class Command:
    text: str  # as written; continuation lines joined by a space
    line: int
    section: str
    block: int | None  # index of its fenced block in its page; None for inline code
    example: bool
    page: str = "README.md"  # relative to the repository root
    notes: list[str] = field(default_factory=list)  # the '#' lines right after it

    @property
    def argv(self) -> list[str]:
        """The words bash would see; in an example, a `<placeholder>` is one word."""
        text = self.text
        if self.example:
            text = re.sub(r"<[^<>]+>", lambda found: found.group(0).replace(" ", "-"), text)
        return shlex.split(text, comments=True)

    @property
    def words(self) -> list[str]:
        """The command without the `NAME=value` assignments before it."""
        argv = self.argv
        while len(argv) > 1 and ASSIGNMENT.match(argv[0]):
            argv = argv[1:]
        return argv

    @property
    def plain(self) -> str:
        """The command as one line, without assignments before it and comments after it."""
        return shlex.join(self.words)

    @property
    def program(self) -> str:
        return Path(self.words[0]).name

    def __str__(self) -> str:
        return f"{self.page}:{self.line} ({self.section}): {self.text}"


@dataclass(frozen=True)
class StandIn:
    pattern: str
    reason: str
    command: Callable[[Command], str]


STAND_INS = (
    StandIn(
        r"^scripts/test\b",
        "it runs the whole suite, this test included: check its shell syntax",
        lambda _command: "bash -n scripts/test",
    ),
    StandIn(
        r"^bench/run\b",
        "the benchmarks take minutes and add the official client to .venv: check its shell "
        "syntax and that the benchmark module imports",
        lambda _command: "bash -n bench/run && .venv/bin/python -c 'import bench.run_all'",
    ),
    StandIn(
        r"^\.venv/bin/pytest\b",
        "it runs tests, this one among them: collecting them checks the paths and markers",
        lambda command: shlex.join([*command.argv, "--collect-only", "-q"]),
    ),
)


@dataclass(frozen=True)
class Once:
    pattern: str
    reason: str


ONCE = (
    Once(
        r"^scripts/demo$",
        "it starts from a clean output/ with its own emulator and Meltano system database, "
        "so a second run repeats the first",
    ),
    Once(
        r"^\.venv/bin/pytest\b",
        "its stand-in collects the same tests from the same files again",
    ),
    Once(
        r"^meltano run postgres-current-relations$",
        "it rebuilds the views that the job's dbt-postgres:current step rebuilds at every run "
        "as well: a second run proves nothing the first did not",
    ),
)


def _state_problem(out: str, err: str) -> str | None:
    state = json.loads(out) if out.strip() else {}
    if not state.get("singer_state"):
        return f"no state is stored under this id; Meltano printed {out.strip()!r}"
    return None


def _json_problem(out: str, err: str) -> str | None:
    try:
        answer = json.loads(out)
    except ValueError:
        return f"the answer is not JSON: {out[:300]!r}"
    if not isinstance(answer, dict) or "error" in answer:
        return f"the API answered with an error: {out[:300]!r}"
    return None


def _unknown_setting(out: str, err: str) -> str | None:
    found = re.search(r"Unknown setting '[^']*'", err)
    return f"Meltano warned: {found.group(0)}" if found else None


def _config_set_problem(out: str, err: str) -> str | None:
    return None if "was set in" in out + err else "Meltano did not say where it stored the value"


def _about_problem(out: str, err: str) -> str | None:
    return None if "tap-supermetrics" in out else f"no tap name in {out[:300]!r}"


def _demo_problem(out: str, err: str) -> str | None:
    """The demo ran in meltano.yml's demo environment: its fixed days, its example queries.

    The default environment pins no end_date and holds an example query of accounts the
    emulator does not know, so only the demo environment ends both streams on 2024-04-01.
    """
    wanted = ("google_ads_daily: Date = 2024-04-01", "ga4_daily: Date = 2024-04-01")
    missing = [line for line in wanted if line not in out]
    return f"the demo's state lacks {missing}: {out[-500:]!r}" if missing else None


# (pattern on the command as written, what its output must show)
CHECKS: tuple[tuple[str, Callable[[str, str], str | None]], ...] = (
    (r"^(\S*/)?meltano\b", _unknown_setting),
    (r"^(\S*/)?meltano config set\b", _config_set_problem),
    (r"^(\S*/)?meltano state get\b", _state_problem),
    (r"^curl\b", _json_problem),
    (r"^(\S*/)?tap-supermetrics --about\b", _about_problem),
    (r"^scripts/demo$", _demo_problem),
)


def is_inline_command(code: str) -> bool:
    words = code.split()
    if not words:
        return False
    first = words[0]
    if first in PROGRAMS:
        return len(words) > 1
    if "/" not in first or first.startswith("/"):
        return False
    path = ROOT / first
    if not (path.is_file() and os.access(path, os.X_OK)):
        return False
    return len(words) > 1 or not first.startswith(".")


def inline_commands(
    paragraph: list[tuple[int, str]], section: str, page: str = "README.md"
) -> list[Command]:
    text, starts = "", []  # the paragraph as one line; where each page line starts in it
    for number, line in paragraph:
        starts.append((len(text), number))
        text += line + " "
    found = []
    for match in SPAN.finditer(text):
        code = match.group(2).strip()
        if is_inline_command(code):
            number = max(number for start, number in starts if start <= match.start())
            example = bool(PLACEHOLDER.search(code))
            found.append(Command(code, number, section, None, example, page))
    return found


def block_commands(block: Block, index: int) -> list[Command]:
    commands: list[Command] = []
    pending: list[str] = []
    start = block.line + 1
    last: Command | None = None
    for offset, raw in enumerate(block.lines):
        number = block.line + 1 + offset
        stripped = raw.strip()
        if not pending:
            start = number
            if not stripped:
                last = None
                continue
            if stripped.startswith("#"):
                if last is not None:
                    last.notes.append(stripped.lstrip("#").strip())
                continue
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        text = " ".join([*pending, stripped])
        pending = []
        last = Command(text, start, block.section, index, bool(EXAMPLE.search(text)), block.page)
        commands.append(last)
    return commands


def parse_readme(text: str, page: str = "README.md") -> tuple[list[Block], list[Command]]:
    """The fenced blocks, and every command (in blocks and inline), in document order."""
    blocks: list[Block] = []
    commands: list[Command] = []
    section = "top"
    paragraph: list[tuple[int, str]] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line)
        if fence:
            commands += inline_commands(paragraph, section, page)
            paragraph = []
            marker, info = fence.groups()
            end = index + 1
            while end < len(lines) and not re.fullmatch(
                rf" {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*", lines[end]
            ):
                end += 1
            block = Block(info, lines[index + 1 : end], index + 1, section, end < len(lines), page)
            blocks.append(block)
            if info == "bash":
                commands += block_commands(block, len(blocks) - 1)
            index = end + 1
            continue
        if line.startswith("#"):
            commands += inline_commands(paragraph, section, page)
            paragraph = []
            section = line.lstrip("#").strip()
        elif line.strip():
            paragraph.append((index + 1, line))
        else:
            commands += inline_commands(paragraph, section, page)
            paragraph = []
        index += 1
    commands += inline_commands(paragraph, section, page)
    return blocks, commands


def pages() -> list[Path]:
    """README.md, then every page of docs/: by name, the DOCS_LAST pages at the end."""

    def order(path: Path) -> tuple[int, str]:
        last = path.name in DOCS_LAST
        return (1 + DOCS_LAST.index(path.name) if last else 0, path.name)

    return [README, *sorted(DOCS.glob("*.md"), key=order)]


def read_page(path: Path) -> tuple[list[Block], list[Command]]:
    return parse_readme(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())


def readme() -> tuple[list[Block], list[Command]]:
    return read_page(README)


def every_page() -> tuple[list[Block], list[Command]]:
    """The blocks and commands of every page, in PAGES order."""
    blocks: list[Block] = []
    commands: list[Command] = []
    for path in pages():
        page_blocks, page_commands = read_page(path)
        blocks += page_blocks
        commands += page_commands
    return blocks, commands


# --- checked without running: the README's structure and every command's syntax ---------


def test_parser_sees_blocks_continuations_notes_examples_and_inline_commands() -> None:
    lines = [
        "# Title",
        "Run `meltano state get dev:x-to-y` or `meltano state get …`; `meltano.yml`,",
        "`tap-supermetrics` and `scripts/` are names, `scripts/test` a command.",
        "```bash",
        "server --port 8080   # starts",
        "# listening on :8080",
        "curl http://127.0.0.1:8080/ \\",
        "  -d x",
        "pip install git+https://x/OWNER/y   # example: OWNER is yours",
        "```",
        "```json",
        "{}",
        "```",
    ]
    blocks, commands = parse_readme("\n".join(lines), "docs/page.md")

    assert [(b.info, b.line, b.closed) for b in blocks] == [("bash", 4, True), ("json", 11, True)]
    assert [(c.text, c.line, c.block, c.example) for c in commands] == [
        ("meltano state get dev:x-to-y", 2, None, False),
        ("meltano state get …", 2, None, True),
        ("scripts/test", 3, None, False),
        ("server --port 8080   # starts", 5, 0, False),
        ("curl http://127.0.0.1:8080/ -d x", 7, 0, False),
        ("pip install git+https://x/OWNER/y   # example: OWNER is yours", 9, 0, True),
    ]
    assert commands[3].notes == ["listening on :8080"]
    assert commands[3].argv == ["server", "--port", "8080"]
    assert {c.page for c in commands} == {b.page for b in blocks} == {"docs/page.md"}
    assert str(commands[4]) == "docs/page.md:7 (Title): curl http://127.0.0.1:8080/ -d x"


def test_pages_are_the_readme_then_docs_by_name_with_the_last_ones_at_the_end() -> None:
    names = [path.relative_to(ROOT).as_posix() for path in pages()]
    docs = sorted(path.name for path in DOCS.glob("*.md") if path.name not in DOCS_LAST)

    assert names == ["README.md", *(f"docs/{name}" for name in [*docs, *DOCS_LAST])]


def test_code_blocks_of_every_page_follow_the_rules() -> None:
    blocks, _ = every_page()
    problems = []
    for block in blocks:
        body = "\n".join(block.lines)
        if not block.closed:
            problems.append(f"{block.where}: the block is never closed")
        elif block.info not in INFO_STRINGS:
            problems.append(
                f"{block.where}: info string {block.info!r}; use one of {', '.join(INFO_STRINGS)}"
            )
        elif block.info == "json":
            try:
                json.loads(body)
            except ValueError as error:
                problems.append(f"{block.where}: not JSON: {error}")
        elif block.info == "yaml":
            try:
                yaml.safe_load(body)
            except yaml.YAMLError as error:
                problems.append(f"{block.where}: not YAML: {error}")
    assert not problems, "\n".join([*problems, RULES])


def test_pages_keep_the_commands_this_test_runs() -> None:
    _, commands = every_page()
    runnable = [command.text for command in commands if not command.example]
    missing = [
        pattern for pattern in REQUIRED if not any(re.search(pattern, text) for text in runnable)
    ]
    assert not missing, f"README.md and docs/ no longer show a command matching {missing}"


def test_readme_first_screen_holds_exactly_the_two_set_up_commands() -> None:
    blocks, commands = readme()
    first = next(index for index, block in enumerate(blocks) if block.info == "bash")
    shown = [command.plain for command in commands if command.block == first]

    assert blocks[first].line + len(blocks[first].lines) < FIRST_SCREEN_LINES, blocks[first].where
    assert tuple(shown) == SET_UP_COMMANDS, f"{blocks[first].where} shows {shown}"


def test_readme_stays_a_short_front_door() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): give the deep topic its "
        "own page in docs/, with one line and a link in the README's Documentation list"
    )


def test_readme_links_every_docs_page() -> None:
    linked = {
        (ROOT / target.split("#")[0]).resolve()
        for target in LINK.findall(README.read_text(encoding="utf-8"))
    }
    missing = [path.name for path in sorted(DOCS.glob("*.md")) if path.resolve() not in linked]
    assert not missing, f"README.md links no docs page {missing}: add one line and a link"


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings (code blocks left out)."""
    blocks, _ = parse_readme(text)
    fenced = {
        line for block in blocks for line in range(block.line, block.line + len(block.lines) + 2)
    }
    anchors = set()
    for number, line in enumerate(text.splitlines(), start=1):
        heading = re.match(r"#{1,6} (.+)", line)
        if heading and number not in fenced:
            title = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(title.replace(" ", "-"))
    return anchors


def link_problems(path: Path, root: Path = ROOT) -> list[str]:
    """Relative links of the page whose file, or heading, does not exist."""
    problems = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        where = f"{path.relative_to(root).as_posix()}: link {target!r}"
        if not linked.exists():
            problems.append(f"{where}: no file {file!r}")
        elif (
            anchor
            and linked.suffix == ".md"
            and anchor not in heading_anchors(linked.read_text(encoding="utf-8"))
        ):
            problems.append(f"{where}: no heading {anchor!r} in {linked.name}")
    return problems


def test_relative_links_of_every_page_point_to_files_and_headings_that_exist() -> None:
    problems = [problem for path in pages() for problem in link_problems(path)]
    assert not problems, "\n".join(problems)


def test_link_check_sees_missing_files_and_headings(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# A `code` title, too\n[ok](#a-code-title-too) [web](https://x.example/#y)\n"
        "[gone](other.md) [bad](#nowhere) ![image](img.png)\n```bash\n# Not a heading\n```\n"
    )
    problems = link_problems(page, root=tmp_path)

    assert problems == [
        "page.md: link 'other.md': no file 'other.md'",
        "page.md: link '#nowhere': no heading 'nowhere' in page.md",
    ]


def _meltano_names() -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    plugins = {
        plugin["name"]: {setting["name"] for setting in plugin.get("settings", [])}
        for kind in (project.get("plugins") or {}).values()
        for plugin in kind
    }
    return {
        "plugins": plugins,
        "jobs": {job["name"] for job in project.get("jobs") or []},
        "schedules": {schedule["name"] for schedule in project.get("schedules") or []},
        "environments": {env["name"] for env in project.get("environments") or []},
    }


def _plugin_problems(path: list[str], params: dict[str, Any], names: dict[str, Any]) -> list[str]:
    plugins: dict[str, set[str]] = names["plugins"]
    named = [params[key] for key in ("plugin_name", "extractor") if params.get(key)]
    named += list(params.get("plugin") or [])
    problems = [
        f"plugin {name!r} is not declared"
        for name in named
        if name not in plugins and name != MELTANO_ITSELF
    ]
    setting, plugin = params.get("setting_name"), params.get("plugin_name")
    if (
        path[1:2] == ["config"]
        and setting
        and plugin in plugins
        and setting[0] not in plugins[plugin]
    ):
        problems.append(f"{plugin} has no setting {setting[0]!r}")
    problems += [
        f"{block!r} is neither a plugin nor a job"
        for block in params.get("blocks") or []
        if block.split(":")[0] not in plugins and block.split(":")[0] not in names["jobs"]
    ]
    return problems


def _schedule_job_state_problems(
    path: list[str], params: dict[str, Any], names: dict[str, Any]
) -> list[str]:
    problems = []
    named = path[2:3] != ["add"]  # `add` names a new one
    schedule, job, state_id = params.get("name"), params.get("job_name"), params.get("state_id")
    if path[1:2] == ["schedule"] and named and schedule and schedule not in names["schedules"]:
        problems.append(f"schedule {schedule!r} is not declared")
    if path[1:2] == ["job"] and named and job and job not in names["jobs"]:
        problems.append(f"job {job!r} is not declared")
    if path[1:2] == ["state"] and state_id:
        match = re.fullmatch(r"([^:]+):(.+)-to-(.+)", state_id)
        if not match or match.group(1) not in names["environments"]:
            problems.append(f"state id {state_id!r} is not <environment>:<tap>-to-<target>")
        elif not {match.group(2), match.group(3)} <= names["plugins"].keys():
            problems.append(f"state id {state_id!r} names a plugin that is not declared")
    return problems


def _without_placeholders(value: Any) -> Any:
    if isinstance(value, str):
        return None if PLACEHOLDER.search(value) else value
    if isinstance(value, list):
        return [item for item in value if _without_placeholders(item) is not None]
    return value


def _name_problems(path: list[str], params: dict[str, Any], names: dict[str, Any]) -> list[str]:
    """Names in a parsed Meltano command that meltano.yml does not declare (placeholders aside)."""
    params = {key: _without_placeholders(value) for key, value in params.items()}
    return [
        *_plugin_problems(path, params, names),
        *_schedule_job_state_problems(path, params, names),
    ]


def parse_with_meltano(commands: list[Command], tmp_path: Path) -> list[dict[str, Any]]:
    if not MELTANO_PYTHON.exists():
        pytest.fail("Meltano is missing: run scripts/bootstrap --meltano")
    out = tmp_path / "parsed.json"
    subprocess.run(
        [str(MELTANO_PYTHON), "-c", PARSE_WITH_MELTANO, str(out)],
        input=json.dumps([command.words[1:] for command in commands]),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    parsed: list[dict[str, Any]] = json.loads(out.read_text())
    return parsed


def test_meltano_commands_of_every_page_parse_and_name_what_meltano_yml_declares(
    tmp_path: Path,
) -> None:
    _, commands = every_page()
    meltano = [command for command in commands if command.program == "meltano"]
    assert meltano
    names = _meltano_names()
    problems = []
    for command, parsed in zip(meltano, parse_with_meltano(meltano, tmp_path), strict=True):
        if "error" in parsed:
            problems.append(f"{command}\n    Meltano refuses it: {parsed['error']}")
        elif parsed["path"]:
            problems += [
                f"{command}\n    {problem}"
                for problem in _name_problems(parsed["path"], parsed["params"], names)
            ]
    assert not problems, "\n".join([*problems, RULES])


def test_meltano_parser_refuses_the_meltano_3_spelling(tmp_path: Path) -> None:
    old = Command("meltano config tap-supermetrics set api_key x", 1, "", None, example=False)
    new = Command("meltano config set tap-supermetrics api_kee x", 1, "", None, example=False)
    refused, parsed = parse_with_meltano([old, new], tmp_path)

    assert "No such command 'tap-supermetrics'" in refused["error"]
    assert _name_problems(parsed["path"], parsed["params"], _meltano_names()) == [
        "tap-supermetrics has no setting 'api_kee'"
    ]


def _test_path() -> str:
    paths = [ROOT / ".venv-meltano" / "bin", ROOT / ".venv" / "bin"]
    return os.pathsep.join([*map(str, paths), os.environ.get("PATH", "")])


def test_shell_commands_of_every_page_are_valid_shell_and_their_programs_exist() -> None:
    _, commands = every_page()
    env = {**os.environ, "PATH": _test_path()}
    problems = []
    for command in commands:
        if command.program == "meltano":
            continue  # parsed by Meltano itself, above
        syntax = subprocess.run(
            ["bash", "-n", "-c", command.text], capture_output=True, text=True, check=False
        )
        if syntax.returncode:
            problems.append(f"{command}\n    bash -n: {syntax.stderr.strip()}")
        found = subprocess.run(
            ["bash", "-c", 'type -t -- "$1"', "_", command.words[0]],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            env=env,
        )
        if found.returncode:
            problems.append(f"{command}\n    no program {command.words[0]!r}")
    assert not problems, "\n".join([*problems, RULES])


# --- run as written ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def copy_project(target: Path) -> Path:
    """The working tree as a fresh clone has it, with the set-up command's venvs linked in."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
        if Path(directory) == ROOT:
            skipped |= NOT_COPIED & set(names)
        return skipped

    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)
    for venv in (".venv", ".venv-meltano", ".venv-dagster"):
        if (ROOT / venv).exists():
            (target / venv).symlink_to(ROOT / venv, target_is_directory=True)
    return target


def require_current_bootstrap(project: Path) -> None:
    """The copy links .venv: scripts/bootstrap (run by scripts/demo) must find it current.

    Same stamp as scripts/bootstrap's; were it stale, bootstrap would rebuild the linked
    .venv of the working tree.
    """
    stamp = subprocess.run(
        ["bash", "-c", "sha256sum pyproject.toml scripts/bootstrap | sha256sum | cut -c1-16"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    current = ROOT / ".venv" / ".stamp"
    if not current.exists() or current.read_text().strip() != stamp:
        pytest.fail(
            ".venv is older than pyproject.toml or scripts/bootstrap: run scripts/bootstrap"
        )
    if not (ROOT / ".venv-meltano" / "bin" / "meltano").exists():
        pytest.fail("Meltano is missing: run scripts/bootstrap --meltano")


@dataclass
class Server:
    command: Command
    process: subprocess.Popen[str]


def block_of(command: Command) -> tuple[str, int | None]:
    """The page and fenced block a command is in (block None: inline)."""
    return command.page, command.block


class Session:
    """Runs the pages' commands one after another in the project copy, as a reader would."""

    def __init__(self, project: Path, env: dict[str, str]) -> None:
        self.project = project
        self.env = env
        self.servers: list[Server] = []
        # block → (port as written, port used)
        self.ports: dict[tuple[str, int | None], tuple[str, str]] = {}
        self.ran: set[str] = set()  # the commands run so far, as written

    def substitute(self, command: Command, text: str) -> str:
        if block_of(command) in self.ports:
            written, used = self.ports[block_of(command)]
            text = re.sub(rf"(?<=:){written}\b", used, text)
        environment = self.env.get("MELTANO_ENVIRONMENT")
        if environment and command.program == "meltano":  # a state id <environment>:<tap>-to-…
            text = re.sub(rf"\b{WRITTEN_ENVIRONMENT}:(?=[\w-]+-to-)", f"{environment}:", text)
        return text

    def run(self, command: Command) -> str | None:
        """Run one command; when it is skipped instead (ONCE), the reason why."""
        self.stop_servers(keep=block_of(command))
        as_written = shlex.join(command.argv)
        once = next((o for o in ONCE if re.search(o.pattern, command.plain)), None)
        if once is not None and as_written in self.ran:
            return once.reason
        if command.program in SERVERS:
            self.start_server(command)
            return None
        self.execute(command)
        self.ran.add(as_written)
        return None

    def execute(self, command: Command) -> None:
        text = self.substitute(command, command.text)
        stand_in = next((s for s in STAND_INS if re.search(s.pattern, command.plain)), None)
        if stand_in is not None:
            text = stand_in.command(command)
        if command.words[0] == "export":
            text += "\nenv -0"
        done = subprocess.run(
            ["bash", "-c", text],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        ran = f"{command}\n    ran: {text}" if text != command.text else str(command)
        assert done.returncode == 0, (
            f"{ran}\n    exit code {done.returncode}\n--- stdout\n{done.stdout[-2000:]}\n"
            f"--- stderr\n{done.stderr[-4000:]}"
        )
        if command.words[0] == "export":
            pairs = (item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
            self.env = dict(pairs)
            return
        self.check(command, stand_in, ran, done)

    @staticmethod
    def check(
        command: Command,
        stand_in: StandIn | None,
        ran: str,
        done: subprocess.CompletedProcess[str],
    ) -> None:
        """What the command printed, against CHECKS."""
        for pattern, check in CHECKS:
            if re.search(pattern, command.plain) and stand_in is None:
                problem = check(done.stdout, done.stderr)
                assert problem is None, f"{ran}\n    {problem}\n--- stderr\n{done.stderr[-2000:]}"

    def start_server(self, command: Command) -> None:
        written = re.search(r"--port[= ](\d+)", command.text)
        assert written, f"{command}\n    a server command needs --port, for the lines after it"
        assert command.block is not None, f"{command}\n    put server commands in a bash block"
        used = str(free_port())
        self.ports[block_of(command)] = (written.group(1), used)
        text = f"{command.text[: written.start()]}--port {used}{command.text[written.end() :]}"
        process = subprocess.Popen(
            ["bash", "-c", f"exec {text}"],
            cwd=self.project,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.servers.append(Server(command, process))
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        first = process.stdout.readline().strip() if ready else ""
        expected = self.substitute(command, command.notes[0]) if command.notes else None
        assert first, f"{command}\n    ran: {text}\n    printed nothing within 30 s"
        assert expected in {None, first}, f"{command}\n    printed {first!r}, page: {expected!r}"

    def stop_servers(self, keep: tuple[str, int | None] | None = None) -> None:
        for server in [s for s in self.servers if keep is None or block_of(s.command) != keep]:
            server.process.terminate()
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()
            if server.process.stdout is not None:
                server.process.stdout.close()
            self.servers.remove(server)


def test_a_once_command_is_not_run_again_where_it_appears_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ONCE", (Once(r"^echo once\b", "it repeats"),))
    session = Session(tmp_path, {"PATH": os.environ["PATH"]})
    once = Command("echo once >> log", 1, "", 0, example=False)
    every_time = Command("echo again >> log", 2, "", 0, example=False)

    skipped = [session.run(command) for command in (once, every_time, once, every_time)]

    assert skipped == [None, None, "it repeats", None]
    assert (tmp_path / "log").read_text().split() == ["once", "again", "again"]


def test_state_ids_written_for_the_default_environment_run_in_the_readers(
    tmp_path: Path,
) -> None:
    session = Session(tmp_path, {"MELTANO_ENVIRONMENT": READER_ENVIRONMENT})
    state_id = "dev:tap-supermetrics-to-target-postgres"
    get = Command(f"meltano state get {state_id}", 1, "", 0, example=False)
    note = Command("echo dev:tap-supermetrics-to-target-postgres", 2, "", 0, example=False)

    assert session.substitute(get, get.text) == (
        "meltano state get demo:tap-supermetrics-to-target-postgres"
    )
    assert session.substitute(note, note.text) == note.text  # only Meltano's commands
