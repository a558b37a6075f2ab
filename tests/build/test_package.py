"""Code packages: ignore files, always-excluded folders, determinism, built deps, checksum, safe unpack."""

from __future__ import annotations

import base64
import io
import os
import random
import zipfile
from pathlib import Path

import pytest

from agentctl.build.package import CodePackage, checksum, crc64, package_code, unpack
from agentctl.errors import BadInput, NotFound


def write(root: Path, rel: str, text: str = "x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def names(package: CodePackage) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(package.zip_bytes)).namelist()


def crc64_bitwise(data: bytes) -> int:
    """Reference: CRC-64 with the ECMA-182 polynomial, reflected, init and xor-out all ones, bit by bit."""
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xC96C5795D7870F42 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFFFFFFFFFF


# --- checksum ---------------------------------------------------------------------------------------


def test_crc64_matches_the_published_check_value():
    # "123456789" → 0x995DC9BBDF1939FA, the value crc64-ecma182.js (fc3) and crcmod (AgentRun SDK) give.
    assert crc64(b"123456789") == 11051210869376104954
    assert checksum(b"123456789") == "11051210869376104954"


def test_crc64_agrees_with_a_bitwise_reference_for_every_length_and_alignment():
    rng = random.Random(7)
    for length in range(0, 41):
        data = bytes(rng.randrange(256) for _ in range(length))
        assert crc64(data) == crc64_bitwise(data), length
    data = os.urandom(4096 + 3)
    assert crc64(data) == crc64_bitwise(data)


def test_package_checksum_is_the_crc64_of_the_zip_bytes(tmp_path):
    write(tmp_path, "app.py", "print('hi')\n")
    package = package_code(tmp_path)
    assert package.checksum == str(crc64_bitwise(package.zip_bytes))
    assert package.size == len(package.zip_bytes)
    assert package.file_count == 1
    assert zipfile.ZipFile(io.BytesIO(base64.b64decode(package.base64()))).namelist() == ["app.py"]


# --- what goes in -----------------------------------------------------------------------------------


def test_arignore_excludes_and_fcignore_negation_wins(tmp_path):
    write(tmp_path, "app.py")
    write(tmp_path, "debug.log")
    write(tmp_path, "keep.log")
    write(tmp_path, "data/big.bin")
    write(tmp_path, ".arignore", "*.log\ndata/\n")
    write(tmp_path, ".fcignore", "!keep.log\n")
    assert names(package_code(tmp_path)) == [".arignore", ".fcignore", "app.py", "keep.log"]


def test_ignore_file_in_a_subdirectory_applies_relative_to_it(tmp_path):
    write(tmp_path, "pkg/mod.py")
    write(tmp_path, "pkg/notes.txt")
    write(tmp_path, "notes.txt")
    write(tmp_path, "pkg/.fcignore", "*.txt\n")
    assert names(package_code(tmp_path)) == ["notes.txt", "pkg/.fcignore", "pkg/mod.py"]


def test_anchored_pattern_only_matches_at_the_root(tmp_path):
    write(tmp_path, "build/out.js")
    write(tmp_path, "src/build/keep.js")
    write(tmp_path, ".arignore", "/build/\n")
    assert names(package_code(tmp_path)) == [".arignore", "src/build/keep.js"]


def test_dot_s_git_and_pycache_are_always_excluded(tmp_path):
    write(tmp_path, "app.py")
    write(tmp_path, ".s/build/agent/dep.py")
    write(tmp_path, ".git/HEAD")
    write(tmp_path, "pkg/__pycache__/mod.cpython-311.pyc")
    write(tmp_path, "pkg/mod.py")
    write(tmp_path, ".fcignore", "!.s/\n!.git/\n!__pycache__/\n")
    assert names(package_code(tmp_path)) == [".fcignore", "app.py", "pkg/mod.py"]


def test_empty_directories_are_kept(tmp_path):
    write(tmp_path, "app.py")
    (tmp_path / "uploads").mkdir()
    assert names(package_code(tmp_path)) == ["app.py", "uploads/"]


def test_symlinked_file_is_stored_as_its_content(tmp_path):
    outside = write(tmp_path / "shared", "lib.py", "SHARED = 1\n")
    code = tmp_path / "code"
    code.mkdir()
    (code / "lib.py").symlink_to(outside)
    archive = zipfile.ZipFile(io.BytesIO(package_code(code).zip_bytes))
    assert archive.read("lib.py") == b"SHARED = 1\n"


def test_missing_code_directory_is_not_found(tmp_path):
    with pytest.raises(NotFound) as err:
        package_code(tmp_path / "nope")
    assert "code.src" in (err.value.hint or "")


# --- determinism ------------------------------------------------------------------------------------


def test_unchanged_tree_gives_the_same_bytes_even_after_touching_files(tmp_path):
    write(tmp_path, "b.py", "b")
    write(tmp_path, "a/c.py", "c")
    first = package_code(tmp_path)
    os.utime(tmp_path / "b.py", (1_000_000_000, 1_000_000_000))
    second = package_code(tmp_path)
    assert first.zip_bytes == second.zip_bytes and first.checksum == second.checksum
    assert names(first) == ["a/c.py", "b.py"]


def test_content_or_exec_bit_changes_change_the_checksum(tmp_path):
    script = write(tmp_path, "run.sh", "echo hi\n")
    before = package_code(tmp_path).checksum
    script.chmod(0o755)
    executable = package_code(tmp_path).checksum
    script.write_text("echo bye\n")
    edited = package_code(tmp_path).checksum
    assert len({before, executable, edited}) == 3


# --- built dependencies -----------------------------------------------------------------------------


def test_built_dependencies_go_under_python(tmp_path):
    code, deps = tmp_path / "code", tmp_path / ".s" / "build" / "agent"
    write(code, "app.py")
    write(deps, "requests/__init__.py")
    write(deps, "requests/__pycache__/x.pyc")
    write(deps, "requests-2.0.dist-info/METADATA")
    assert names(package_code(code, deps_dir=deps)) == [
        "app.py", "python/requests-2.0.dist-info/METADATA", "python/requests/__init__.py"]


def test_missing_deps_dir_is_fine(tmp_path):
    write(tmp_path, "app.py")
    assert names(package_code(tmp_path, deps_dir=tmp_path / "absent")) == ["app.py"]


def test_code_file_colliding_with_a_built_dependency_is_bad_input(tmp_path):
    code, deps = tmp_path / "code", tmp_path / "deps"
    write(code, "python/six.py")
    write(deps, "six.py")
    with pytest.raises(BadInput) as err:
        package_code(code, deps_dir=deps)
    assert "python/six.py" in err.value.message


# --- unpack -----------------------------------------------------------------------------------------


def test_unpack_round_trips_files_and_exec_bits(tmp_path):
    code = tmp_path / "code"
    write(code, "app.py", "print(1)\n")
    write(code, "bin/run", "#!/bin/sh\n").chmod(0o755)
    (code / "empty").mkdir()
    dest = tmp_path / "out"
    assert unpack(package_code(code).zip_bytes, dest) == 2
    assert (dest / "app.py").read_text() == "print(1)\n"
    assert os.access(dest / "bin/run", os.X_OK) and not os.access(dest / "app.py", os.X_OK)
    assert (dest / "empty").is_dir()


def zip_with(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["../evil.py", "a/../../evil.py", "/tmp/evil.py", "..\\evil.py", "C:/evil.py"])
def test_unpack_rejects_path_traversal(tmp_path, name):
    dest = tmp_path / "dest"
    with pytest.raises(BadInput) as err:
        unpack(zip_with({name: b"boom"}), dest)
    assert "unsafe path" in err.value.message
    assert not (tmp_path / "evil.py").exists()
    assert not list(tmp_path.rglob("evil.py"))


def test_unpack_stops_a_zip_bomb_by_counting_written_bytes(tmp_path):
    bomb = zip_with({"zeros.bin": b"\0" * (4 * 1024 * 1024)})
    assert len(bomb) < 64 * 1024
    with pytest.raises(BadInput) as err:
        unpack(bomb, tmp_path / "dest", max_bytes=1024 * 1024)
    assert "more than" in err.value.message
    assert (tmp_path / "dest" / "zeros.bin").stat().st_size <= 1024 * 1024


def test_unpack_limits_the_number_of_entries(tmp_path):
    many = zip_with({f"f{i}.txt": b"" for i in range(20)})
    with pytest.raises(BadInput):
        unpack(many, tmp_path / "dest", max_entries=10)


def test_unpack_rejects_something_that_is_not_a_zip(tmp_path):
    with pytest.raises(BadInput) as err:
        unpack(b"not a zip at all", tmp_path / "dest")
    assert err.value.hint


def test_unpack_reports_a_file_and_directory_with_the_same_name(tmp_path):
    with pytest.raises(BadInput) as err:
        unpack(zip_with({"a": b"file", "a/b": b"under a file"}), tmp_path / "dest")
    assert "'a/b'" in err.value.message
