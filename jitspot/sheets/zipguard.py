"""Guarding an .xlsx's zip container against hostile files, before any parser sees it.

A workbook fetched from a link is untrusted, and the parsers downstream trust it:
calamine's zip reader believes the sizes a member declares, and an XML parser
expands what a DTD declares. So the container is checked first:

- zip bombs (a few kilobytes inflating to gigabytes): the member count, the total
  declared size and each big member's compression ratio, from the central
  directory alone; then every XML part is inflated once, here, in chunks, with its
  real size held to the declared one (a lying header cannot make us allocate
  more) and its CRC checked;
- entity-expansion attacks ("billion laughs", external entities): no XML part may
  hold a DTD declaration (`<!DOCTYPE`, `<!ENTITY`...), which a workbook never needs;
- encrypted workbooks and old .xls files (an OLE container), encrypted members and
  unknown compressions: refused with a message that says what to do.

Each limit is far above what real workbooks reach and far below what bombs do;
the reason for each number stands beside it.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from jitspot.errors import InputNotReadable

# The 18k-row real workbook inflates to ~30 MB; 1 GiB leaves room for far bigger sheets
# while keeping a hostile file from exhausting memory or disk.
MAX_UNCOMPRESSED_BYTES = 1 << 30
# Real xlsx parts compress 5-30x (the 2017-2020 sample's worst is styles.xml at 28x);
# deflate bombs reach ~1000x. 200x is a wide margin for legit files, far below bombs.
MAX_COMPRESSION_RATIO = 200
# Small members cannot do harm whatever their ratio (a 50 KB run of spaces in a style
# part is legit); the ratio is only enforced above this declared size.
RATIO_CHECK_MIN_BYTES = 1 << 20
# A workbook has tens of parts (a few hundred with comments and images).
MAX_MEMBERS = 10_000

_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE container: encrypted xlsx, or .xls
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length
_CHUNK = 1 << 16

# A markup declaration (`<!DOCTYPE`, `<!ENTITY`, `<!ELEMENT`...) is `<!` and a letter;
# comments (`<!--`) and CDATA (`<![`) pass. `<` cannot appear unescaped elsewhere in XML.
_UTF16_DECLARATION = re.compile(rb"<\x00!\x00[A-Za-z]\x00|\x00<\x00!\x00[A-Za-z]")
_UTF16_STARTS = (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")
_DECLARATION_OVERLAP = 6  # longest pattern - 1: a match split across two chunks is found


@dataclass(slots=True)
class CheckedZip:
    """An open zip whose central directory passed the checks; its parts inflate checked."""

    path: Path
    fp: IO[bytes]
    members: dict[str, zipfile.ZipInfo]  # name -> entry, in archive order

    def read(self, name: str) -> bytes:
        """The bytes of member `name`, checked: size, CRC, no DTD declaration."""
        return _inflate(self.path, self.fp, self.members[name], keep=True)

    def check_xml_parts(self, keep: Collection[str], skip: Collection[str]) -> dict[str, bytes]:
        """Inflate and check every XML part but those in `skip`; the bytes of those in `keep`.

        Every part a parser will read goes through here, even those the caller does
        not need: the parsers after us would trust what was not checked.
        """
        kept: dict[str, bytes] = {}
        for name, info in self.members.items():
            if name in skip or not name.lower().endswith(_XML_SUFFIXES):
                continue
            data = _inflate(self.path, self.fp, info, keep=name in keep)
            if name in keep:
                kept[name] = data
        return kept


@contextmanager
def checked_zip(path: Path) -> Iterator[CheckedZip]:
    """`path` opened as a zip, refusing anything unsafe before any XML parser sees it.

    Raises InputNotReadable for a file that is not a zip, an encrypted workbook or
    an .xls, a zip bomb, and (here or while its parts are read) an unreadable file.
    """
    try:
        with path.open("rb") as fp:
            if fp.read(len(_CFB_MAGIC)) == _CFB_MAGIC:
                raise InputNotReadable(
                    f"{path}: encrypted (password-protected) workbook or old .xls format; "
                    "save it as an unprotected .xlsx"
                )
            fp.seek(0)
            try:
                archive = zipfile.ZipFile(fp)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
                raise InputNotReadable(
                    f"{path}: not an xlsx file (not a zip archive: {exc})"
                ) from None
            with archive:
                infos = archive.infolist()
                _check_members(path, infos)
                yield CheckedZip(path, fp, {info.filename: info for info in infos})
    except OSError as exc:
        raise InputNotReadable(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _check_members(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse zip bombs and encrypted members from the central directory alone."""
    if len(infos) > MAX_MEMBERS:
        raise InputNotReadable(f"{path}: too many parts in the archive ({len(infos)})")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise InputNotReadable(f"{path}: encrypted workbook; save it without a password")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InputNotReadable(f"{path}: unsupported compression in {info.filename}")
        total += info.file_size
        if total > MAX_UNCOMPRESSED_BYTES:
            raise InputNotReadable(
                f"{path}: refusing a workbook that inflates to more than "
                f"{MAX_UNCOMPRESSED_BYTES >> 20} MiB (zip bomb?)"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise InputNotReadable(
                f"{path}: refusing {info.filename}: compression ratio {ratio:.0f}:1 "
                f"exceeds {MAX_COMPRESSION_RATIO}:1 (zip bomb?)"
            )


def _inflate(path: Path, fp: IO[bytes], info: zipfile.ZipInfo, *, keep: bool) -> bytes:
    """A member's bytes (b"" unless `keep`), checked as it streams.

    The output may not exceed the declared size (checked while inflating, so a lying
    header cannot make us allocate more), must match it and its CRC, and may hold no
    DTD declaration.
    """
    name = info.filename
    fp.seek(info.header_offset)
    header = fp.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise InputNotReadable(f"{path}: corrupt archive (bad header for {name})")
    _, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    fp.seek(info.header_offset + _LOCAL_HEADER.size + name_length + extra_length)

    inflater = zlib.decompressobj(-zlib.MAX_WBITS) if info.compress_type else None
    limit = info.file_size
    produced = 0
    crc = 0
    tail: bytes | None = None  # the end of the previous piece; None before the first
    utf16 = False
    pieces: list[bytes] = []

    def take(data: bytes) -> None:
        nonlocal produced, crc, tail, utf16
        if not data:
            return
        produced += len(data)
        if produced > limit:
            raise InputNotReadable(f"{path}: {name} inflates beyond its declared size (zip bomb?)")
        crc = zlib.crc32(data, crc)
        if tail is None:
            utf16 = data.startswith(_UTF16_STARTS)
            tail = b""
        window = tail + data
        if _has_declaration(window, utf16):
            raise InputNotReadable(
                f"{path}: {name} holds a DTD declaration (<!DOCTYPE/<!ENTITY); refused"
            )
        tail = window[-_DECLARATION_OVERLAP:]
        if keep:
            pieces.append(data)

    remaining = info.compress_size
    try:
        while remaining > 0:
            chunk = fp.read(min(remaining, _CHUNK))
            if not chunk:
                raise InputNotReadable(f"{path}: corrupt archive ({name} is truncated)")
            remaining -= len(chunk)
            if inflater is None:
                take(chunk)
                continue
            while chunk and not inflater.eof:
                # max_length caps what one call may allocate: one byte past the limit
                # is enough to know the member lies about its size.
                take(inflater.decompress(chunk, limit - produced + 1))
                chunk = inflater.unconsumed_tail
            if inflater.eof:
                break
        if inflater is not None:
            take(inflater.flush())
    except zlib.error as exc:
        raise InputNotReadable(f"{path}: corrupt archive ({name}: {exc})") from None
    if produced != limit or crc != info.CRC:
        raise InputNotReadable(f"{path}: corrupt archive ({name} fails its size/CRC check)")
    return b"".join(pieces)


def _has_declaration(window: bytes, utf16: bool) -> bool:
    if utf16:  # rare enough for a slower regex
        return _UTF16_DECLARATION.search(window) is not None
    # bytes.find is several times faster than a regex over megabytes of sheet XML.
    index = window.find(b"<!")
    while index >= 0:
        if window[index + 2 : index + 3].isalpha():
            return True
        index = window.find(b"<!", index + 2)
    return False
