"""``roiste customers audience``: platform normalisation on hand examples, store look-up by the
store's own key, counts, bad rows, nothing but hashes written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from roiste.optimizer.cli import main
from roiste.tracking.audience import phone_digits, platform_email, platform_phone
from roiste.tracking.errors import OrderError
from roiste.tracking.orders import make_order
from roiste.tracking.store import open_store
from roiste.tracking.testing import TemporaryPostgres, why_not_available

SALT = "audience-salt-0123456789abcdef"
ENV = {"ROISTE_SALT": SALT}

# Customers who bought (as the tagging endpoint saw them, in their own spelling).
BUYERS = ["john.smith@gmail.com", "ann.lee@example.com"]

CRM = (
    "Email,Phone,first_name\n"
    "  John.Smith@GMAIL.com ,+1 (650) 253-0000,John\n"      # a buyer, upper case and spaces
    "Jane.Doe+news@GoogleMail.com,0044 20 7031 3000,Jane\n"  # not a buyer; dots and a + tag
    "\n"                                                     # a blank line keeps its number
    "ANN.LEE@example.com,,Ann\n"                             # a buyer; dots outside Gmail
    "johnsmith@gmail.com,+44 (0)20 7031 3001,Jon\n"          # Google: the same as row 2
    "bob+shop@example.org,087 123 4567,Bob\n"                # national number
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture()
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'customers.db'}"
    with open_store(url, SALT.encode()) as s:
        for i, email in enumerate(BUYERS):
            s.tag(make_order(order_id=f"o{i}", value=10.0, timestamp="2026-11-01T10:00:00Z",
                             channel="search", salt=SALT.encode(), email=email))
    return url


def _run(tmp_path: Path, store: str, *args: str, crm: str = CRM):
    src = tmp_path / "crm.csv"
    src.write_text(crm, encoding="utf-8")
    out = tmp_path / "audience.csv"
    res = CliRunner().invoke(main, ["customers", "audience", str(src), "--store", store,
                                    "--out", str(out), *args], env=ENV)
    return res, out


def _rows(out: Path) -> list[list[str]]:
    return [line.split(",") for line in out.read_text(encoding="utf-8").splitlines()]


def test_normalisation_follows_each_platform_on_hand_examples() -> None:
    # Google: trim, lower case, periods before @ removed for gmail.com / googlemail.com only;
    # a "+" tag is kept (Google documents no rule for it)
    assert platform_email("  John.Smith@GMAIL.com ", "google") == "johnsmith@gmail.com"
    assert platform_email("Jane.Doe+news@GoogleMail.com", "google") == "janedoe+news@googlemail.com"
    assert platform_email("ANN.LEE@example.com", "google") == "ann.lee@example.com"
    # Meta: trim and lower case only
    assert platform_email("  John.Smith@GMAIL.com ", "meta") == "john.smith@gmail.com"
    assert platform_email("Jane.Doe+news@GoogleMail.com", "meta") == "jane.doe+news@googlemail.com"
    # phones: E.164 with "+" for Google, the same digits without it for Meta
    assert platform_phone("+1 (650) 253-0000", "google") == "+16502530000"
    assert platform_phone("+1 (650) 253-0000", "meta") == "16502530000"
    assert platform_phone("0044 20 7031 3000", "google") == "+442070313000"
    assert platform_phone("+44 (0)20 7031 3001", "meta") == "442070313001"
    assert platform_phone("087 123 4567", "google", "353") == "+353871234567"
    assert phone_digits("+33.1.23.45.67.89") == "33123456789"
    # the documents' own examples: Google's E.164 numbers, a Gmail address without its dots
    assert platform_phone("+1 212-565-0000", "google") == "+12125650000"
    assert platform_phone("+44 20 7031 3000", "google") == "+442070313000"
    assert platform_email("Jane.Doe@gmail.com", "google") == "janedoe@gmail.com"
    for bad in ("+1 650 CALL NOW", "12345", "+1234567890123456", "087 123 4567"):
        with pytest.raises(OrderError):
            phone_digits(bad)


def test_google_audience_of_existing_customers(tmp_path: Path, store: str) -> None:
    res, out = _run(tmp_path, store, "--type", "existing", "--format", "google",
                    "--phone-country", "353")
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    assert rows[0] == ["Email", "Phone"]
    # rows 2 and 6 are one Google identity (first phone kept); row 5 is Ann
    assert rows[1:] == [[sha("johnsmith@gmail.com"), sha("+16502530000")],
                        [sha("ann.lee@example.com"), ""]]
    # 5 rows, 4 Google identities: John and Ann known, Jane and Bob new
    assert "2 existing customers for google (1 with a phone)" in res.output
    assert "holds 4 customers in 5 rows: 2 existing, 2 new" in res.output


def test_meta_audience_of_new_customers(tmp_path: Path, store: str) -> None:
    res, out = _run(tmp_path, store, "--type", "new", "--format", "meta",
                    "--phone-country", "353")
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    assert rows[0] == ["email", "phone"]
    # for Meta "johnsmith@gmail.com" is another customer than "john.smith@gmail.com", and the
    # store does not know it: it is new
    assert rows[1:] == [[sha("jane.doe+news@googlemail.com"), sha("442070313000")],
                        [sha("johnsmith@gmail.com"), sha("442070313001")],
                        [sha("bob+shop@example.org"), sha("353871234567")]]
    assert "holds 5 customers in 5 rows: 2 existing, 3 new" in res.output


def test_nothing_but_hashes_leaves_the_command(tmp_path: Path, store: str) -> None:
    res, out = _run(tmp_path, store, "--type", "new", "--format", "google",
                    "--phone-country", "353")
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8")
    assert "@" not in text and "Jane" not in text and "+44" not in text
    assert "@" not in res.output


@pytest.mark.parametrize(("crm", "where"), [
    ("email,phone\na@example.com,\nnot-an-address,\n", "row 3, column 'email': not an e-mail"),
    ("email,phone\na@example.com,\n\n,+353 87 123 4567\n", "row 4, column 'email': empty"),
    ("email,phone\na@example.com,087 123 4567\n", "row 2, column 'phone': has no country code"),
    ("e_mail,phone\na@example.com,\n", "row 1: no 'email' column"),
])
def test_a_bad_row_is_one_line_naming_file_row_and_column(tmp_path: Path, store: str, crm: str,
                                                          where: str) -> None:
    res, out = _run(tmp_path, store, "--type", "new", "--format", "meta", crm=crm)
    assert res.exit_code == 2
    line = res.output.strip()
    assert "\n" not in line and "crm.csv" in line and where in line, line
    assert "example.com" not in line
    assert not out.exists()


def test_a_missing_store_or_another_salt_is_refused(tmp_path: Path, store: str) -> None:
    res, out = _run(tmp_path, f"sqlite:///{tmp_path / 'nowhere.db'}", "--type", "new",
                    "--format", "meta", "--phone-country", "353")
    assert res.exit_code == 2 and "no such store" in res.output
    assert not (tmp_path / "nowhere.db").exists() and not out.exists()
    src = tmp_path / "crm.csv"
    res = CliRunner().invoke(main, ["customers", "audience", str(src), "--store", store,
                                    "--type", "new", "--format", "meta", "--out", str(out),
                                    "--phone-country", "353"],
                             env={"ROISTE_SALT": "another-salt-0123456789"})
    assert res.exit_code == 2 and "salt differs" in res.output
    assert not out.exists()


def test_a_postgresql_store_gives_the_same_audience(tmp_path: Path, store: str) -> None:
    reason = why_not_available()
    if reason:
        pytest.skip(reason)
    with TemporaryPostgres() as pg:
        url = pg.new_schema("audience")
        with open_store(url, SALT.encode()) as s:
            for i, email in enumerate(BUYERS):
                s.tag(make_order(order_id=f"o{i}", value=10.0, timestamp="2026-11-01T10:00:00Z",
                                 channel="search", salt=SALT.encode(), email=email))
        res, out = _run(tmp_path, url, "--type", "existing", "--format", "google",
                        "--phone-country", "353")
        assert res.exit_code == 0, res.output
        from_pg = out.read_bytes()
    res, out = _run(tmp_path, store, "--type", "existing", "--format", "google",
                    "--phone-country", "353")
    assert res.exit_code == 0 and out.read_bytes() == from_pg
