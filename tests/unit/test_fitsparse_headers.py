"""Header parsing: the one regex pass (HIERARCH and CONTINUE cards included) against the
card-by-card reference parser and astropy, on every header of tests/data/real and on edge cards."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import pytest
from astropy.io import fits

from vocloud.io.fitsparse import _parse_cards_slow, parse_header, read_hdu

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
FILES = sorted(p for p in REAL.glob("*/*") if ".fits" in p.name)


def _bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _headers(buf: bytes):
    """(header text up to END, parsed header) of every HDU of a FITS file."""
    start, index = 0, 0
    while start < len(buf):
        hdu = read_hdu(buf, start, index, "x")
        end = start
        while True:  # the END card, on a card boundary
            end = buf.find(b"END     ", end)
            if (end - start) % 80 == 0:
                break
            end += 80 - (end - start) % 80
        yield buf[start:end].decode("latin-1"), hdu.header
        start, index = hdu.next_start, index + 1


def _astropy_values(text: str) -> tuple[dict, set]:
    """Valued cards as astropy reads them, a later duplicate winning, HIERARCH keys upper-cased;
    and the keys of cards astropy cannot parse."""
    out, unparsable = {}, set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = fits.Header.fromstring(text)
        for card in header.cards:
            if card.keyword in ("COMMENT", "HISTORY", "", "CONTINUE"):
                continue
            try:
                value = card.value
            except fits.VerifyError:
                unparsable.add(card.keyword.upper())
                continue
            if value is None or isinstance(value, fits.card.Undefined):
                continue
            out[card.keyword.upper()] = value
    return out, unparsable


def test_real_files_cover_the_header_kinds():
    texts = [text for p in FILES for text, _ in _headers(_bytes(p))]
    assert len(FILES) >= 25 and len(texts) >= 75
    assert sum("HIERARCH" in t for t in texts) >= 4  # CRIRES+, HARPS, UVES
    assert sum("CONTINUE" in t for t in texts) >= 2  # DESI


# A string with a lone quote inside ('J. O'Meara', not 'J. O''Meara'): it ends at that quote, as
# the FITS standard reads it and vocloud always has; astropy reads on to the last quote.
ASTROPY_DIFFERS = {("UM669_nF.fits", "OBSERVER"): "J. O"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_headers_equal_reference_and_astropy(path):
    for text, header in _headers(_bytes(path)):
        # the same keys in the same order, the same values and types as card by card
        assert repr(header) == repr(_parse_cards_slow(text))
        ref, unparsable = _astropy_values(text)
        assert set(ref) ^ set(header) <= unparsable, set(ref) ^ set(header)
        for key, value in ref.items():
            if (path.name, key) in ASTROPY_DIFFERS:
                assert header[key] == ASTROPY_DIFFERS[path.name, key] != value
                continue
            assert header[key] == value, (key, header[key], value)


def _raw(cards: list[str]) -> bytes:
    text = "".join(c.ljust(80)[:80] for c in [*cards, "END"]).encode("latin-1")
    return text + b" " * (-len(text) % 2880)


EDGE = [
    "SIMPLE  =                    T / conforming",
    "BITPIX  =                    8",
    "NAXIS   =                    0",
    "HIERARCH ESO DET CHIP = 'CCD 1' / spaces around =",
    "HIERARCH ESO DET WIN1 NX=2048",
    "HIERARCH ESO  TEL   AMBI FWHM START =  0.83 / runs of blanks in the words",
    "HIERARCH ESO INS GRAT1 ZP_ORD CENTRAL WAVELENGTH OF THE ORDER=   12 / long key",
    "HIERARCH eso ocs lower = T",
    "HIERARCH ESO NO VALUE INDICATOR",
    "HIERARCH ESO UNDEF =",
    "HIERARCH= 'a standard key named HIERARCH'",
    "LONGSTR = 'The first part&'",
    "COMMENT   a comment between a string and its CONTINUE",
    "CONTINUE  ' of a chain&'",
    "CONTINUE  'ending ''here'''      / quotes inside",
    "CONTINUE  'not after an ampersand'",
    "NUMBER  =                   42 / a number, then a CONTINUE",
    "CONTINUE  'dropped'",
    "PLAIN   = 'no ampersand'",
    "CONTINUE  'dropped too'",
    "HIERARCH ESO LONG = 'hierarch&'",
    "CONTINUE  12                    / not a string: appends nothing, the chain goes on",
    "CONTINUE  'continued&'",
    "CONTINUE  '&'",
    "CONTINUE= 'a standard key named CONTINUE'",
    "QUOTES  = 'O''Brien / x'       / '' and a slash in a string",
    "ESCAPES = ''''''",
    "EMPTY   = ''",
    "BLANKSTR= '        '",
    "UNCLOSED= 'no closing quote''",
    "QUOTE80 = " + " " * 69 + "'",
    "CLOSEDQ = " + " " * 60 + "'closed'''",
    "CLOSED80= " + " " * 62 + "'closed'",
    "",
    "        / a blank key with a comment",
    "COMMENT   this = not a value",
    "HISTORY = not a value either",
    "lower   =                  1.5",
    "Mixed_1 =           6.5000D+03 / D exponent",
    "INTLIKE =                 +007",
    "WORD    = notanumber",
    "NAN     =                  NaN",
    "UNDEF   =                      / undefined value",
    "NOSPACE =5",
    "DUP     =                    1",
    "HIERARCH ESO DUP = 1",
    "DUP     =                    2 / a later duplicate wins, in the first place",
    "HIERARCH ESO  DUP = 'two'",
]


def test_edge_cards_equal_reference():
    header, data_start = parse_header(_raw(EDGE), 0, "edge.fits")
    assert data_start == 2880 * 2
    text = _raw(EDGE)[: 80 * len(EDGE)].decode("ascii")
    assert repr(header) == repr(_parse_cards_slow(text))  # keys, order, values and types
    assert header["ESO DET CHIP"] == "CCD 1" and header["ESO DET WIN1 NX"] == 2048
    assert header["ESO TEL AMBI FWHM START"] == 0.83
    assert header["ESO INS GRAT1 ZP_ORD CENTRAL WAVELENGTH OF THE ORDER"] == 12
    assert header["ESO OCS LOWER"] is True and header["HIERARCH"].startswith("a standard")
    assert "ESO NO VALUE INDICATOR" not in header and "ESO UNDEF" not in header
    # the chain stops at a string without "&": the next CONTINUE appends nothing
    assert header["LONGSTR"] == "The first part of a chainending 'here'"
    assert header["NUMBER"] == 42 and header["PLAIN"] == "no ampersand"
    assert header["ESO LONG"] == "hierarchcontinued&"
    assert header["CONTINUE"] == "a standard key named CONTINUE"
    assert header["QUOTES"] == "O'Brien / x" and header["ESCAPES"] == "''"
    assert header["EMPTY"] == "" and header["BLANKSTR"] == ""
    assert header["UNCLOSED"] == "no closing quote''"  # the rest of the card, as written
    # a quote in column 80: an unclosed empty string; strings closed in column 80
    assert header["QUOTE80"] == "" and header["CLOSEDQ"] == "closed'"
    assert header["CLOSED80"] == "closed"
    assert header["LOWER"] == 1.5 and header["MIXED_1"] == 6500.0
    assert header["INTLIKE"] == 7 and header["WORD"] == "notanumber"
    assert header["NAN"] != header["NAN"]
    for absent in ("COMMENT", "UNDEF", "NOSPACE"):
        assert absent not in header
    # "= " in columns 9-10 makes a valued card whatever its key (astropy keeps HISTORY commentary)
    assert header["HISTORY"] == "not a value either"
    assert "" not in header  # blank cards and "        / ..." have no "= "
    # a later duplicate wins and keeps the first one's place
    assert header["DUP"] == 2 and header["ESO DUP"] == "two"
    keys = list(header)
    assert keys.index("ESO DUP") == keys.index("DUP") + 1 == len(keys) - 1


@pytest.mark.parametrize(
    "card",
    [
        "TABBED  = \t'tab before a string'",
        "NEWLINE = 'a newline\n in a card'",
        "LATIN1  = 'caf\xe9'",
        "NUL     =                   5\0",
        "NBSP    =\xa0'no-break space'",
    ],
)
def test_bytes_outside_printable_ascii_read_card_by_card(card):
    cards = [*EDGE[:3], card, "LONGSTR = 'a&'", "CONTINUE  'b'"]
    header, _ = parse_header(_raw(cards), 0, "odd.fits")
    text = _raw(cards)[: 80 * len(cards)].decode("latin-1")
    assert header == _parse_cards_slow(text) and header["LONGSTR"] == "ab"
