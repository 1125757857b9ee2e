"""What a file is, from its first bytes: text, UTF-16 text, gzip, Parquet, or something to refuse.

The name of a file does not decide how it is read (a gzip named .csv is common); its
bytes do. plan._plan reads what this module says and refuses, with _REFUSED's words, the
kinds it cannot load.
"""
from __future__ import annotations

# What the first bytes of a file say it is (checked in order), and why each refused kind is refused.
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"PAR1", "parquet"), (b"SQLite format 3\x00", "sqlite"),
          (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
          (b"%PDF", "pdf"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"7z\xbc\xaf\x27\x1c", "7z"),
          (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x89PNG", "image"), (b"\xff\xd8\xff", "image"),
          (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16-be"))
_KIND_TEXT = {"text": "text", "gzip": "a gzip-compressed file", "utf-16": "UTF-16 text", "parquet": "a Parquet file",
              "sqlite": "a SQLite database", "zip": "a ZIP archive", "ole": "an old Excel workbook",
              "pdf": "a PDF document", "bzip2": "a bzip2-compressed file", "xz": "an xz-compressed file",
              "7z": "a 7-Zip archive", "zstd": "a zstd-compressed file", "image": "an image",
              "utf-16-be": "UTF-16 big-endian text", "binary": "binary data"}
_REFUSED = {
    "sqlite": "this looks like a SQLite database (a Home Assistant recorder database, home-assistant_v2.db, "
              "is read directly when given as the file itself, see recorder.py), not a CSV file",
    "zip": "this is a ZIP archive (an Excel .xlsx workbook is one too); unzip it, or save the sheet as CSV, "
           "and ingest the CSV",
    "ole": "this looks like an old Excel .xls workbook; save the sheet as CSV and ingest that",
    "pdf": "this is a PDF document, not a CSV file",
    "bzip2": "this is a bzip2-compressed file; decompress it (bunzip2) or recompress it with gzip",
    "xz": "this is an xz-compressed file; decompress it (unxz) or recompress it with gzip",
    "7z": "this is a 7-Zip archive; extract the CSV from it",
    "zstd": "this is a zstd-compressed file; decompress it (unzstd) or recompress it with gzip",
    "image": "this is an image (PNG or JPEG), not a CSV file",
    "utf-16-be": "it is UTF-16 big-endian text, which is not read; convert it first, e.g. "
                 "iconv -f UTF-16BE -t UTF-8 FILE > FILE.utf8.csv",
    "binary": "it holds binary data, not text, and no known file type starts like it",
}


def _sniff(head: bytes) -> str:
    """What the first bytes of a file are: 'text', 'utf-16' (little-endian), or a _MAGIC kind."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" not in head:
        return "text"
    sample = head[: len(head) // 2 * 2]
    even, odd = sample[0::2], sample[1::2]
    # UTF-16 without a byte-order mark: ASCII text with a NUL after (LE) or before (BE) every byte.
    if odd and odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16"
    if even and even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return "binary"
