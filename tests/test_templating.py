from app.templating import options_html


def test_options_are_escaped_and_the_chosen_one_selected() -> None:
    html = str(options_html([(1, "司法所"), (2, "<b>信访办</b>"), (10, "党政办")], selected=10))
    assert html == (
        '<option value="1">司法所</option>'
        '<option value="2">&lt;b&gt;信访办&lt;/b&gt;</option>'
        '<option value="10" selected>党政办</option>'
    )
    assert "selected" not in str(options_html([(1, "甲")], selected=None))
