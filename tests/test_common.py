"""scikit-learn's estimator checks for every public estimator and penalty alias."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmtl import MultiTaskClassifier, MultiTaskRegressor

# Expected failures, each with its reason. Keep this the only such list.
EXPECTED_FAILED_CHECKS = {}

ESTIMATORS = [
    Est(penalty=penalty)
    for Est in (MultiTaskRegressor, MultiTaskClassifier)
    for penalty in ("independent", "mean", "graph", "l21")
]


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("Est", [MultiTaskRegressor, MultiTaskClassifier])
def test_params_roundtrip(Est):
    from skmtl.penalties import MeanRegularized

    est = Est(penalty=MeanRegularized(shared=0.5, specific=2.0))
    params = est.get_params(deep=True)
    assert params["penalty__specific"] == 2.0
    est.set_params(penalty__specific=3.0)
    assert est.penalty.specific == 3.0
