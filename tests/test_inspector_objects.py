"""Blind-spot objects on the page: probe tokens of the object, the object panel, the note on greedy text."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser

from inspector_fakes import BLIND_RESPONSE, blindspot_fixture, synthetic_view, words

from inspector.objects import PANEL_ID, object_panel_html, object_tokens, objects_frame, response_note
from inspector.samples import ObjectRow, Sample, parse_row


def obj(word, status="missed", tokens=None, probe="p", **kw) -> ObjectRow:
    base = dict(verdict="blind-spot", type="type-i", u=0.5, delta=-0.1, p_clear=0.2, p_blurred=0.1)
    base.update(kw)
    return ObjectRow(word=word, status=status, tokens=tuple(tokens or [" " + word]), probe=probe, **base)


def test_object_tokens_take_the_file_tokens_then_the_word():
    tokens = ["a", " cat", " and", " a", " dog", ".", " There", " is", " a", " cat", " ."]
    assert object_tokens(tokens, obj("cat")) == (9,)  # missed: the appended sentence, the last occurrence
    assert object_tokens(tokens, obj("cat", status="hallucinated")) == (1,)  # otherwise the first
    assert object_tokens(tokens, obj("dog", tokens=["DOG"])) == (4,)  # stripped, case-folded
    assert object_tokens([" surf", "board", "s", " ."], obj("surfboard", tokens=["Surf", "board"])) == (0, 1)
    assert object_tokens([" two", " dogs", " ."], obj("dog", tokens=["dog"])) == (1,)  # by the word: plurals
    assert object_tokens([" a", " cat"], obj("bus")) == ()


class Attrs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.by_id: dict[str, dict] = {}
        self.text: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.by_id[attrs["id"]] = attrs
            self.text[attrs["id"]] = ""
        self._open.append(attrs.get("id"))

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for element_id in self._open:
            if element_id:
                self.text[element_id] += data


def test_object_panel_shows_the_file_numbers_beside_the_page_tokens():
    probe = BLIND_RESPONSE + " There is also a <cat> ."
    view = synthetic_view(probe)
    row = obj("<cat>", probe=probe, tokens=[" <cat>"], p_clear=0.02, p_blurred=0.019, u=0.1 + 0.2, delta=-1.5)
    row = ObjectRow(**{**row.__dict__, "run": {"ckpt": "tiny", "seed": 3}, "where": "b.jsonl line 3"})
    indices = object_tokens([t.token for t in view.preferred.tokens], row)
    html_text = object_panel_html(
        row, view.preferred, indices, probe_analysed=True, settings={"seed": 0, "step": "fixed", "k": 500}
    )
    page = Attrs()
    page.feed(html_text)
    panel = page.by_id[PANEL_ID]
    assert float(panel["data-p-clear"]) == 0.02 and float(panel["data-p-blurred"]) == 0.019
    assert float(panel["data-u"]) == 0.1 + 0.2 and panel["data-verdict"] == "blind-spot"  # exact floats
    assert json.loads(panel["data-token-indices"]) == list(indices) == [len(words(probe)) - 2]
    assert page.text["object-p-clear"] == "0.0200" and page.text["object-p-blurred"] == "0.0190"
    assert page.text["object-verdict"] == "blind-spot"
    assert page.text["object-probe"] == probe and "<mark>&lt;cat&gt;</mark>" in html_text  # escaped
    token = view.preferred.tokens[indices[0]]
    assert f"{token.u:+.4f}" in html_text and "b.jsonl line 3" in html_text
    assert "seed 3 in the file, 0 here: numbers can differ" in html_text
    waiting = object_panel_html(row, view.preferred, (), probe_analysed=False)
    assert (
        "the analysed text is not this probe" in waiting
        and object_panel_html(None, view.preferred, (), probe_analysed=True) == ""
    )


def _eval_sample(tmp_path, response="a dog ."):
    (tmp_path / "img.png").write_bytes(b"")  # parse_row only checks that the file exists
    row = {"bench": "amber", "id": 1, "image": "img.png", "question": "Q", "response": response}
    return parse_row(row, base=tmp_path, image_dir=None, line=1)


def test_response_note_says_when_the_text_is_greedy_and_points_to_the_probes(tmp_path):
    sample = _eval_sample(tmp_path)
    view = synthetic_view("a dog .")
    note = response_note(sample, "a dog .", view.preferred)
    assert (
        note.startswith("**The model's own greedy output.**")
        and "≤ 0 for every token by construction" in note
    )
    n_pos = sum(t.u > 0 for t in view.preferred.tokens)
    assert (f"{n_pos} of 3 tokens have u > 0" in note) == (n_pos > 0)
    assert "uedpo-eval --blindspots" in note
    assert response_note(sample, "an edited text", view.preferred) == ""  # not the model's output any more
    pair = Sample("p", tmp_path / "img.png", "Q", "a", "b", kind="pair")
    assert response_note(pair, "a", view.preferred) == ""


def test_response_note_for_a_blindspot_item(tmp_path):
    rows = blindspot_fixture()[:3]
    objects = tuple(obj(r["word"], status=r["status"], probe=r["probe"]) for r in rows)
    sample = Sample(
        "1",
        tmp_path / "img.png",
        "Q",
        BLIND_RESPONSE,
        None,
        kind="blindspots",
        objects=objects,
        response=BLIND_RESPONSE,
    )
    greedy = response_note(sample, BLIND_RESPONSE, None)
    assert greedy.startswith("**The model's own greedy output.**") and "pick a missed object (cat)" in greedy
    probe = response_note(sample, rows[2]["probe"], None)
    assert probe.startswith("**Probe for the missed object 'cat'**")


def test_objects_frame_puts_file_and_page_numbers_side_by_side(tmp_path):
    rows = blindspot_fixture()[:3]
    objects = tuple(obj(r["word"], status=r["status"], probe=r["probe"], u=r["u"]) for r in rows)
    sample = Sample("1", tmp_path / "img.png", "Q", BLIND_RESPONSE, None, kind="blindspots", objects=objects)
    view = synthetic_view(rows[2]["probe"])
    frame = objects_frame(sample, {rows[2]["probe"]: view.preferred})
    assert list(frame["word"]) == ["dog", "car", "cat"]
    cat = frame.iloc[2]
    token = view.preferred.tokens[object_tokens([t.token for t in view.preferred.tokens], objects[2])[0]]
    assert cat["u_file"] == 0.8 and math.isclose(float(cat["u_page"]), token.u, rel_tol=1e-5)
    assert frame.iloc[0]["u_page"] == ""  # its probe (the response) was not analysed
