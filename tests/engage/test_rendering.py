"""Personal messages from templates: language fallback, the sandbox, escaping, plain text."""

from __future__ import annotations

import pytest

from patron.engage.rendering import Template, TemplateProblem, pick_language, plain_text, render

THANKS = Template(
    "thank_you",
    {"de": "Danke, {{ name }}!", "en": "Thank you, {{ name }}!", "nb": "Takk, {{ name }}!"},
    {
        "de": "<p>Hallo {{ name }},</p><p>danke für Ihren ersten Einkauf.</p>",
        "en": "<p>Hi {{ name }},</p><p>thank you for your first order.</p>",
        "nb": "<p>Hei {{ name }},</p><p>takk for din første bestilling.</p>",
    },
)


@pytest.mark.parametrize(
    ("wanted", "default", "chosen"),
    [
        ("de", "en", "de"),
        ("DE", "en", "de"),
        ("de-AT", "en", "de"),
        ("nb_NO", "en", "nb"),
        ("fr", "de", "de"),  # not written in French: the shop's default
        ("fr", "sv", "en"),  # nor in the default: English
        (None, "nb", "nb"),
    ],
)
def test_language_fallback(wanted: str | None, default: str, chosen: str) -> None:
    assert pick_language(wanted, THANKS.languages, default=default) == chosen


def test_a_template_in_one_language_only_is_used_for_everyone() -> None:
    assert pick_language("de", ("nb",)) == "nb"
    with pytest.raises(TemplateProblem):
        pick_language("de", ())


def test_personal_message_in_the_customers_language() -> None:
    message = render(THANKS, {"name": "Jürgen"}, language="de")
    assert message.language == "de"
    assert message.subject == "Danke, Jürgen!"
    assert message.html == "<p>Hallo Jürgen,</p><p>danke für Ihren ersten Einkauf.</p>"
    assert message.text == "Hallo Jürgen,\n\ndanke für Ihren ersten Einkauf.\n"


def test_inserted_values_are_escaped_in_html_but_not_in_the_subject() -> None:
    message = render(THANKS, {"name": 'Bo <script>alert("x")</script>'}, language="en")
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert message.subject == 'Thank you, Bo <script>alert("x")</script>!'
    # the text part shows what the reader would see, not markup
    assert 'Hi Bo <script>alert("x")</script>,' in message.text


def test_a_subject_stays_on_one_line() -> None:
    template = Template("t", {"en": "Hello\n{{ name }}\r\nBcc: x@example.org"}, {"en": "<p>x</p>"})
    subject = render(template, {"name": "Ann"}, language="en").subject
    assert "\n" not in subject
    assert "\r" not in subject
    assert subject == "Hello Ann Bcc: x@example.org"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("{{ nmae }}", "'nmae' is undefined"),
        ("{{ name.__class__.__mro__ }}", "unsafe"),
        ("{% for x in %}{% endfor %}", "line 1"),
        ("<p>\n{{ name }\n</p>", "line"),
    ],
)
def test_mistakes_and_forbidden_operations_are_named(body: str, words: str) -> None:
    template = Template("broken", {"en": "Hi"}, {"en": body})
    with pytest.raises(TemplateProblem) as error:
        render(template, {"name": "Ann"}, language="en")
    assert words in error.value.message
    assert "'broken' (en)" in error.value.message
    assert error.value.code == "template.invalid"


def test_recommendations_and_vouchers_in_a_loop() -> None:
    template = Template(
        "cross_sell",
        {"en": "For you, {{ name }}"},
        {
            "en": (
                "<p>Your code: <strong>{{ voucher }}</strong></p><ul>"
                '{% for item in recommended %}<li><a href="{{ item.url }}">{{ item.name }}</a>'
                " – {{ item.reason }}</li>{% endfor %}</ul>"
            )
        },
    )
    context = {
        "name": "Ann",
        "voucher": "WELCOME-7Q2X",
        "recommended": [
            {
                "name": "Tomato sauce",
                "url": "https://shop.example/sauce",
                "reason": "goes with pasta",
            },
            {"name": "Parmesan", "url": "https://shop.example/cheese", "reason": "new"},
        ],
    }
    message = render(template, context, language="en")
    assert message.text == (
        "Your code: WELCOME-7Q2X\n\n"
        "- Tomato sauce (https://shop.example/sauce) – goes with pasta\n"
        "- Parmesan (https://shop.example/cheese) – new\n"
    )


def test_plain_text_drops_styles_and_keeps_entities_readable() -> None:
    html = (
        "<html><head><title>x</title><style>p{color:red}</style></head><body>"
        "<h1>News</h1><p>Fish &amp; chips&nbsp;today</p><br><a href='#top'>top</a></body></html>"
    )
    # a non-breaking space is white space like any other in plain text
    assert plain_text(html) == "News\n\nFish & chips today\n\ntop\n"


@pytest.mark.parametrize(
    "body",
    [
        "{% if points < 100 %}<p>Few</p>{% else %}<p>Many</p>{% endif %}"
        '<p><a href="{{ url }}">Go</a></p>',
        "{% if points %}<p>Few &amp; {{ name }}</p>{% endif %}<ul>{% for i in items %}"
        "<li>{{ i }}</li>{% endfor %}</ul><p><a href='{{ url }}'>Go</a></p>",
    ],
)
def test_the_text_part_is_the_html_made_plain(body: str) -> None:
    template = Template("t", {"en": "Hi"}, {"en": body})
    values = {"points": 5, "url": "https://shop.example/?a=1&b=2", "name": "Tom & <Jerry>"}
    message = render(template, values | {"items": ["one", "two"]}, language="en")
    assert message.text == plain_text(message.html)
    assert "Go (https://shop.example/?a=1&b=2)" in message.text
    assert "Many" not in message.text
