import pytest

from tokenmarket.model.scenario import Scenario, load_scenario


def variant(name: str, edit) -> Scenario:
    """A built-in scenario with `edit(data)` applied to its plain-dict form, re-validated."""
    data = load_scenario(name).model_dump()
    edit(data)
    return Scenario.model_validate(data)


@pytest.fixture(scope="session")
def make_variant():
    return variant
