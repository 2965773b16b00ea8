"""`dogbreeds run` and `dogbreeds report`: argument checks fail early, in one line, with exit code 2."""

import pytest

from dogbreeds import cli


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--data-dir", "/no/such/folder"], "does not exist"),
        (["run", "--from", "03", "--runs", "{tmp}/none"], "no earlier run"),
        (["run", "--from", "09"], "no notebook '09'"),
        (["run", "--from", "04", "--until", "02"], "comes before"),
    ],
)
def test_run_rejects_bad_requests_before_starting(argv, message, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "none").exists()


def test_set_parses_json_values():
    assert cli._parameter("epochs=3") == ("epochs", 3)
    assert cli._parameter("breeds=[\"beagle\", \"Samoyed\"]") == ("breeds", ["beagle", "Samoyed"])
    assert cli._parameter("breeds=all") == ("breeds", "all")
    with pytest.raises(Exception, match="KEY=VALUE"):
        cli._parameter("no-equals-sign")


def test_bad_set_is_a_usage_error(capsys):
    assert cli.main(["run", "--set", "oops"]) == cli.EXIT_USAGE
    assert "KEY=VALUE" in capsys.readouterr().err
