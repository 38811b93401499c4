"""launch.json edits: one configuration added or replaced, every other byte of the user's file kept."""

from __future__ import annotations

import json
import os
import random
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amldebug_jupyter import UserError
from amldebug_jupyter.bridge.launchjson import JsoncError, LaunchJsonError, strip_jsonc, write_attach_config

NAME = "Azure ML: train"
MAPPINGS = [
    {"localRoot": "/home/me/proj/code/train", "remoteRoot": "/mnt/azureml/cr/j/abc/exe/wd"},
    {"localRoot": "C:\\Users\\me\\lib", "remoteRoot": "/opt/lib"},
]

# A launch.json as people keep it: comments everywhere, a string holding // and /* and escaped
# quotes and brackets, a trailing comma after the last entry, then a comment before the ']'.
REALISTIC = """\
// Launch configurations for this project.
{
    // Use IntelliSense to learn about possible attributes.
    "version": "0.2.0",
    /* Local runs first,
       then remote ones. */
    "configurations": [
        {
            "name": "Python: current file",
            "type": "debugpy",
            "request": "launch",
            "program": "${file}", // the open editor
            "args": ["--url", "http://example.com//x", "say \\"hi\\" /* no comment */ {[", ],
        },
        /* keep this one */
        {
            "name": "Tests",
            "type": "debugpy",
            "request": "launch",
            "module": "pytest",
        }, // trailing comma after the last entry
        // Remote entries go below.
    ],
    "compounds": [],
}
"""
REALISTIC_CONFIGS = [
    {
        "name": "Python: current file",
        "type": "debugpy",
        "request": "launch",
        "program": "${file}",
        "args": ["--url", "http://example.com//x", 'say "hi" /* no comment */ {['],
    },
    {"name": "Tests", "type": "debugpy", "request": "launch", "module": "pytest"},
]


def expected(
    host: str = "10.0.0.4",
    port: int = 5678,
    mappings: List[Dict[str, str]] = MAPPINGS,
    just_my_code: bool = True,
    name: str = NAME,
) -> Dict[str, Any]:
    return {
        "name": name,
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": host, "port": port},
        "pathMappings": mappings,
        "justMyCode": just_my_code,
    }


def write_config(path: Path, **kw: Any) -> str:
    values = {"name": NAME, "host": "10.0.0.4", "port": 5678, "path_mappings": MAPPINGS, **kw}
    return write_attach_config(path, **values)


def parse(text: str) -> Any:
    return json.loads(strip_jsonc(text))


def launch_json(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".vscode" / "launch.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


# --- a new file -------------------------------------------------------------------------------


def test_creates_the_file_and_its_folders(tmp_path: Path) -> None:
    path = tmp_path / "proj" / ".vscode" / "launch.json"
    summary = write_config(path, just_my_code=False)
    assert summary == f"Created {path} with '{NAME}'"
    text = path.read_text()
    assert text == json.dumps({"version": "0.2.0", "configurations": [expected(just_my_code=False)]}, indent=4) + "\n"
    assert list(json.loads(text)["configurations"][0]) == ["name", "type", "request", "connect", "pathMappings", "justMyCode"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["launch.json"]  # no temp file, no backup


def test_relative_path_is_reported_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert write_config(".vscode/launch.json") == f"Created .vscode/launch.json with '{NAME}'"
    assert write_config(Path(".vscode/launch.json"), port=1) == f"Updated '{NAME}' in .vscode/launch.json"
    assert write_config(".vscode/launch.json", name="other") == "Added 'other' to .vscode/launch.json"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_new_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = tmp_path / "launch.json"
        write_config(path)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not the 0600 of a bare temp file


def test_empty_file_is_filled_in(tmp_path: Path) -> None:
    path = launch_json(tmp_path, "\n")
    assert write_config(path) == f"Added '{NAME}' to {path}"
    assert parse(path.read_text()) == {"version": "0.2.0", "configurations": [expected()]}
    assert path.with_name("launch.json.bak").read_bytes() == b"\n"


# --- merging into an existing file --------------------------------------------------------------


def test_merge_keeps_every_other_byte(tmp_path: Path) -> None:
    path = launch_json(tmp_path, REALISTIC)
    assert write_config(path) == f"Added '{NAME}' to {path}"
    new = path.read_text()

    # The new element goes after the last comment in the array; the text on each side is intact.
    cut = REALISTIC.index("// Remote entries go below.") + len("// Remote entries go below.")
    before, after = REALISTIC[:cut], REALISTIC[cut:]
    assert new.startswith(before) and new.endswith(after)
    inserted = new[len(before) : len(new) - len(after)]
    assert inserted.startswith('\n        {\n            "name"')  # indented like the other entries
    assert inserted.endswith("\n        }")
    assert json.loads(inserted) == expected()
    assert new == before + inserted + after

    document = parse(new)
    assert document["configurations"] == REALISTIC_CONFIGS + [expected()]
    assert document["version"] == "0.2.0" and document["compounds"] == []


def test_the_written_entry_is_exactly_the_given_values(tmp_path: Path) -> None:
    path = launch_json(tmp_path, REALISTIC)
    write_config(path, host="node-7.internal", port=61234, path_mappings=[], just_my_code=False, name='a "b" // c')
    entry = parse(path.read_text())["configurations"][-1]
    assert entry == expected(host="node-7.internal", port=61234, mappings=[], just_my_code=False, name='a "b" // c')
    assert list(entry) == ["name", "type", "request", "connect", "pathMappings", "justMyCode"]


def test_update_in_place_keeps_position_and_neighbours(tmp_path: Path) -> None:
    old_entry = '{"name": "Azure ML: train", "type": "debugpy", "request": "attach", "port": 1}'
    original = (
        '{\n    "configurations": [\n        {"name": "first"}, // one\n'
        f"        {old_entry}, /* two */\n"
        '        {"name": "last", "note": "Azure ML: train"}\n    ]\n}\n'
    )
    path = launch_json(tmp_path, original)
    assert write_config(path, port=9000) == f"Updated '{NAME}' in {path}"
    new = path.read_text()
    start = original.index(old_entry)
    end = start + len(old_entry)
    assert new.startswith(original[:start]) and new.endswith(original[end:])
    replaced = new[start : len(new) - len(original) + end]
    assert json.loads(replaced) == expected(port=9000)
    assert replaced.endswith("\n        }")
    assert [c["name"] for c in parse(new)["configurations"]] == ["first", NAME, "last"]


def test_repeated_writes_are_idempotent_and_keep_one_entry(tmp_path: Path) -> None:
    path = launch_json(tmp_path, REALISTIC)
    write_config(path)
    once = path.read_bytes()
    assert write_config(path) == f"'{NAME}' in {path} is already up to date"
    assert path.read_bytes() == once
    write_config(path, port=7000)
    assert [c["name"] for c in parse(path.read_text())["configurations"]].count(NAME) == 1
    assert write_config(path) == f"Updated '{NAME}' in {path}"
    assert path.read_bytes() == once  # back to the same values: back to the same bytes


def test_idempotent_from_scratch(tmp_path: Path) -> None:
    path = tmp_path / "launch.json"
    write_config(path)
    first = path.read_bytes()
    write_config(path, port=1)
    write_config(path)
    assert path.read_bytes() == first


def test_only_string_names_match(tmp_path: Path) -> None:
    original = '{"configurations": [{"name": ["Azure ML: train"]}, {"title": "Azure ML: train"}]}'
    path = launch_json(tmp_path, original)
    assert write_config(path).startswith("Added")
    assert parse(path.read_text())["configurations"][:2] == json.loads(original)["configurations"]


# --- array and object edge cases ----------------------------------------------------------------

ENTRY_8 = json.dumps(expected(), indent=4).replace("\n", "\n        ")  # an element at 8 spaces


def test_empty_array(tmp_path: Path) -> None:
    path = launch_json(tmp_path, '{\n    "version": "0.2.0",\n    "configurations": []\n}\n')
    write_config(path)
    assert path.read_text() == ('{\n    "version": "0.2.0",\n    "configurations": [\n        ' + ENTRY_8 + "\n    ]\n}\n")


def test_array_with_only_a_comment(tmp_path: Path) -> None:
    path = launch_json(tmp_path, '{\n    "configurations": [\n        // nothing yet\n    ],\n}\n')
    write_config(path)
    assert path.read_text() == ('{\n    "configurations": [\n        // nothing yet\n        ' + ENTRY_8 + "\n    ],\n}\n")


def test_comma_goes_before_a_comment_after_the_last_element(tmp_path: Path) -> None:
    path = launch_json(tmp_path, '{\n    "configurations": [\n        {"name": "a"} // a /* b\n    ]\n}\n')
    write_config(path)
    assert path.read_text() == (
        '{\n    "configurations": [\n        {"name": "a"}, // a /* b\n        ' + ENTRY_8 + "\n    ]\n}\n"
    )


def test_compact_array_gets_its_bracket_on_a_new_line(tmp_path: Path) -> None:
    path = launch_json(tmp_path, '{\n    "configurations": [{"name": "a"}]\n}\n')
    write_config(path)
    assert path.read_text() == ('{\n    "configurations": [{"name": "a"},\n        ' + ENTRY_8 + "\n    ]\n}\n")
    assert parse(path.read_text())["configurations"] == [{"name": "a"}, expected()]


def test_no_configurations_key(tmp_path: Path) -> None:
    path = launch_json(tmp_path, '{\n    "version": "0.2.0" // the format\n}\n')
    assert write_config(path) == f"Added '{NAME}' to {path}"
    assert path.read_text() == (
        '{\n    "version": "0.2.0", // the format\n    "configurations": [\n        ' + ENTRY_8 + "\n    ]\n}\n"
    )


def test_no_configurations_key_in_empty_object(tmp_path: Path) -> None:
    path = launch_json(tmp_path, "{}")
    write_config(path)
    assert parse(path.read_text()) == {"configurations": [expected()]}
    assert path.read_text() == '{\n    "configurations": [\n        ' + ENTRY_8 + "\n    ]\n}"


def test_tab_indented_file_stays_tab_indented(tmp_path: Path) -> None:
    path = launch_json(tmp_path, '{\n\t"version": "0.2.0",\n\t"configurations": []\n}\n')
    write_config(path)
    entry = json.dumps(expected(), indent="\t").replace("\n", "\n\t\t")
    assert path.read_text() == '{\n\t"version": "0.2.0",\n\t"configurations": [\n\t\t' + entry + "\n\t]\n}\n"


def test_crlf_file_keeps_crlf(tmp_path: Path) -> None:
    lf = launch_json(tmp_path / "lf", REALISTIC)
    crlf = launch_json(tmp_path / "crlf", REALISTIC.replace("\n", "\r\n"))
    write_config(lf)
    write_config(crlf)
    data = crlf.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n")
    assert data == lf.read_bytes().replace(b"\n", b"\r\n")
    assert write_config(crlf).endswith("is already up to date")


def test_bom_is_kept(tmp_path: Path) -> None:
    path = launch_json(tmp_path, "\ufeff" + REALISTIC)
    write_config(path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf// Launch")
    assert parse(path.read_text(encoding="utf-8"))["configurations"][-1] == expected()


# --- refusals: the file is left exactly as it was -----------------------------------------------


@pytest.mark.parametrize(
    "text, line, detail",
    [
        ("this is not json\n", 1, "unexpected 'this'"),
        ('{\n  "configurations": [\n    {"name": "a"}\n', 2, "'[' is never closed"),
        ('{\n  "configurations": [\n    {"name": "a"}\n  }\n}\n', 4, "expected ',' or ']', found '}'"),
        ('[\n  {"name": "a"}\n]\n', 1, "the top level must be an object"),
        ('{\n  "version": "0.2.0",\n  "configurations": {"name": "a"}\n}\n', 3, '"configurations" must be an array'),
        ('{\n  /* open comment\n  "configurations": []\n}\n', 2, "comment is never closed"),
        ('{\n  "version": "0.2.0\n}\n', 2, "string is not closed"),
        ('{"a": 1,, "configurations": []}', 1, 'expected a "key"'),
        ('{"a": tru}', 1, "unexpected 'tru'"),
        ('{"a": "\\x"}', 1, "bad string"),
        ('{"a": 1} {"b": 2}', 1, "after the end of the document"),
        ("// only a comment\n", 2, "there is no JSON value"),
    ],
)
def test_unparsable_file_is_refused_and_untouched(tmp_path: Path, text: str, line: int, detail: str) -> None:
    path = launch_json(tmp_path, text)
    with pytest.raises(LaunchJsonError) as err:
        write_config(path)
    message = str(err.value)
    assert isinstance(err.value, UserError)
    assert "\n" not in message
    assert message.startswith(f"{path} is not valid JSON with comments (line {line}: ")
    assert detail in message
    assert message.endswith("fix or move it, then try again.")
    assert path.read_bytes() == text.encode()
    assert sorted(p.name for p in path.parent.iterdir()) == ["launch.json"]  # no .bak, no temp file


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "launch.json"
    path.write_bytes(b'{\n  "name": "caf\xe9"\n}\n')
    with pytest.raises(LaunchJsonError, match=r"\(line 2: not UTF-8 text\)"):
        write_config(path)
    assert path.read_bytes() == b'{\n  "name": "caf\xe9"\n}\n'


@pytest.mark.parametrize("port", [0, 65536, True, "5678"])
def test_bad_port(tmp_path: Path, port: Any) -> None:
    with pytest.raises(UserError, match="port must be an integer from 1 to 65535"):
        write_config(tmp_path / "launch.json", port=port)
    assert not (tmp_path / "launch.json").exists()


def test_folder_in_the_way_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(LaunchJsonError, match=r"^Cannot read .* check the path and its permissions, then try again\.$"):
        write_config(tmp_path)


# --- backups, permissions, atomic replacement ---------------------------------------------------


def test_backup_holds_the_previous_content(tmp_path: Path) -> None:
    path = launch_json(tmp_path, REALISTIC)
    backup = path.with_name("launch.json.bak")
    backup.write_text("an older backup")
    write_config(path)
    assert backup.read_text() == REALISTIC
    first = path.read_text()
    write_config(path, port=1)
    assert backup.read_text() == first
    assert sorted(p.name for p in path.parent.iterdir()) == ["launch.json", "launch.json.bak"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_permissions_are_preserved(tmp_path: Path) -> None:
    path = launch_json(tmp_path, REALISTIC)
    path.chmod(0o604)
    write_config(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o604
    assert stat.S_IMODE(path.with_name("launch.json.bak").stat().st_mode) == 0o604


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlinked_file_stays_a_symlink(tmp_path: Path) -> None:
    real = launch_json(tmp_path / "dotfiles", REALISTIC)
    link = tmp_path / "proj" / "launch.json"
    link.parent.mkdir()
    link.symlink_to(real)
    write_config(link)
    assert link.is_symlink()
    assert parse(real.read_text())["configurations"][-1] == expected()


# --- the scanner -------------------------------------------------------------------------------


def test_strip_jsonc_keeps_offsets_and_strings() -> None:
    text = '{"a": "x // y /* z */", // c\n "b": [1, 2,], /* d */}'
    stripped = strip_jsonc(text)
    assert len(stripped) == len(text) and stripped.count("\n") == 1
    assert json.loads(stripped) == {"a": "x // y /* z */", "b": [1, 2]}


def test_strip_jsonc_rejects_bad_text() -> None:
    with pytest.raises(JsoncError) as err:
        strip_jsonc('{\n"a": [1,\n}')
    assert err.value.line == 3


GAPS = ["", " ", "\n", "\r\n    ", "\t", "// c\n", " /* b */ ", '/* {["// */', '//x */ "{\n', "/**/\n", "/* multi\nline */"]
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20
)


def jsonc(value: Any, rnd: random.Random) -> str:
    """``value`` as JSONC with random comments, whitespace and trailing commas between the tokens."""
    gap = lambda: rnd.choice(GAPS)  # noqa: E731
    if isinstance(value, (dict, list)):
        if isinstance(value, dict):
            parts = [gap() + json.dumps(k) + gap() + ":" + gap() + jsonc(v, rnd) + gap() for k, v in value.items()]
        else:
            parts = [gap() + jsonc(v, rnd) + gap() for v in value]
        body = ",".join(parts) + ("," + gap() if parts and rnd.random() < 0.4 else "")
        brackets = "{}" if isinstance(value, dict) else "[]"
        return brackets[0] + (body or gap()) + brackets[1]
    return json.dumps(value, ensure_ascii=rnd.random() < 0.5)


@settings(max_examples=300, deadline=None)
@given(value=values, rnd=st.randoms(use_true_random=False))
def test_strip_jsonc_gives_back_the_value(value: Any, rnd: random.Random) -> None:
    assert json.loads(strip_jsonc(gap_wrapped(jsonc(value, rnd), rnd))) == value


def gap_wrapped(text: str, rnd: random.Random) -> str:
    return rnd.choice(GAPS) + text + rnd.choice(GAPS)


entries = st.lists(
    st.dictionaries(st.sampled_from(["name", "type", "x"]), st.sampled_from([NAME, "other", 1, None, [NAME]]), max_size=3),
    max_size=4,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    configs=entries,
    extra=st.dictionaries(st.sampled_from(["version", "compounds", "z"]), values, max_size=2),
    has_configs=st.booleans(),
    crlf=st.booleans(),
    rnd=st.randoms(use_true_random=False),
)
def test_any_launch_json_gets_the_entry(
    configs: List[Dict[str, Any]], extra: Dict[str, Any], has_configs: bool, crlf: bool, rnd: random.Random
) -> None:
    document = dict(extra, configurations=configs) if has_configs else dict(extra)
    original = gap_wrapped(jsonc(document, rnd), rnd)
    if crlf:
        original = original.replace("\r\n", "\n").replace("\n", "\r\n")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "launch.json"
        path.write_bytes(original.encode())
        write_config(path)
        new = path.read_bytes().decode()

        match = next((i for i, c in enumerate(configs) if c.get("name") == NAME), None) if has_configs else None
        want = list(configs) if has_configs else []
        if match is None:
            want.append(expected())
            assert is_subsequence(original, new)  # only insertions
        else:
            want[match] = expected()
        assert parse(new) == dict(extra, configurations=want)
        if crlf and "\n" in original:  # (a file with no line break at all gets \n)
            assert new.count("\n") == new.count("\r\n")

        write_config(path)
        assert path.read_bytes().decode() == new


def is_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(c in it for c in small)
