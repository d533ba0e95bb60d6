"""Grade colours are data: each grade's optional `colour` in the scheme document (checked by the JSON Schema the
API enforces), else a colour by rank; carried to the editor's chart and to the Rating message (account page)."""

from __future__ import annotations

from carbon.v1 import rating_pb2
from carbon_accounting.account_page import grades_html, scheme_grade
from carbon_rating import scheme as sc
from carbon_rating.engine import RatingResult, to_message
from carbon_rating.gov import chart
from carbon_rating.vectorised import UNGRADED

from tests.rating.helpers import document, official, rate, row

QUZHOU = {"深绿": "#1b5e20", "浅绿": "#66bb6a", "黄": "#fdd835", "红": "#c62828"}


def test_the_shipped_schemes_name_their_colours() -> None:
    quzhou = sc.compile_scheme(document("quzhou-four-colour"))
    by_label = {quzhou.grade_labels[g].zh: quzhou.grade_colours[g] for g in quzhou.grades}  # type: ignore[union-attr]
    assert by_label == QUZHOU
    for scheme_id in ("zhejiang-carbon-efficiency", "shenzhen-aaa"):
        doc = document(scheme_id)
        assert all("colour" in g for g in doc["grades"]), scheme_id
        assert "grades" in doc["sources"]  # where the colours come from (illustrative)


def test_a_grade_without_colour_falls_back_to_its_rank() -> None:
    doc = document("shenzhen-aaa")
    for grade in doc["grades"]:
        grade.pop("colour")
    doc["grades"][4]["colour"] = "#123ABC"  # one grade with its own colour; the others by rank
    colours = sc.compile_scheme(doc).grade_colours
    rank = sc.rank_colours(9)
    assert [colours[g["id"]] for g in doc["grades"]] == [*rank[:4], "#123abc", *rank[5:]]
    assert sc.rank_colours(4) == list(QUZHOU.values())  # four grades by rank: Quzhou's colours
    assert chart.grade_colours(doc)[UNGRADED] == chart.UNGRADED_COLOUR


def test_a_colour_is_checked_by_the_json_schema() -> None:
    for bad in ("green", "#12345", "#1234567", "#12345g", "rgb(1,2,3)"):
        doc = document("quzhou-four-colour")
        doc["grades"][0]["colour"] = bad
        assert [f for f, _ in sc.validate(doc)] == ["grades[0].colour"], bad
    doc = document("quzhou-four-colour")
    doc["grades"][0]["colour"] = "#ABCDEF"
    assert sc.validate(doc) == []


def test_the_editor_chart_paints_each_grade_in_its_colour() -> None:
    doc = document("quzhou-four-colour")
    doc["grades"][0]["colour"] = "#00695c"
    assert chart.grade_colours(doc)["DARK_GREEN"] == "#00695c"


def test_the_rating_message_and_the_account_page_carry_the_colour() -> None:
    doc = document(
        "zhejiang-carbon-efficiency",
        benchmark__official=[official("intensity_value_added", "C2611", "2023", "2")],
        benchmark__min_sample=1,
    )
    doc["grades"][2]["colour"] = "#ffb300"
    rows = [row("E1", l_va="2.0")]
    outcome = rate(doc, rows, "E1")
    assert outcome.grade == "3"
    message = to_message(RatingResult(sc.compile_scheme(doc), outcome, None, rows[0], "digest"))
    assert message.grade_colour == "#ffb300"
    card = grades_html([scheme_grade("浙江碳效码", message)], 0)
    assert "border-left:10px solid #ffb300" in card and 'class="swatch" style="background:#ffb300"' in card
    # only a colour reaches the page's style attribute
    hostile = rating_pb2.Rating(grade="3", grade_label_zh="3级", grade_colour="red;background:url(x)")
    assert scheme_grade("s", hostile).colour == "" and "style" not in grades_html([scheme_grade("s", hostile)], 0)
