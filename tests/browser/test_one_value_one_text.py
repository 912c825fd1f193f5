"""One value, one text: a trial's accuracy, learning rate, weight decay, flags and times read the same live
(drawn by the study page's script from the live data), after a reload (the server's HTML, no script), in the
trial table, on the model page, on the compare page and in the command line's report."""

from __future__ import annotations

import io

import pytest

from platform_web.studies.management.commands.run_study import Command
from platform_web.studies.models import Study
from tests.browser.test_model_page import log_in
from tests.trained_models.builders import TrainedModel, install_trial, make_colour_dataset
from trainer_api.engine.config import TrialConfig
from trainer_api.engine.trial import run_trial

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LEARNING_RATE = 0.0007780155576901416
WEIGHT_DECAY = 3.1622776601683795e-05
ACCURACY = 0.7512345
EXPECTED = {"accuracy": "75.1%", "learning rate": "7.78e-4", "weight decay": "3.16e-5", "augment": "yes"}


@pytest.fixture
def best_trial(user, tmp_path):
    """A completed study whose best trial is a real model trained with raw, many-digit hyperparameters."""
    config = TrialConfig(architecture="simple_cnn", input_size=16, batch_size=8, epochs=2, learning_rate=LEARNING_RATE,
                         weight_decay=WEIGHT_DECAY, augment=True, diverge_check_epochs=0, seed=0)  # fmt: skip
    dataset_dir = make_colour_dataset(tmp_path / "dataset")
    result = run_trial(config, dataset_dir, tmp_path / "trials" / "t0", tmp_path / "cache", device="cpu", num_threads=1)
    assert result.model_path, result.message
    trial = install_trial(TrainedModel(dataset_dir, tmp_path / "trials" / "t0", result, config), user,
                          study_name="Raw numbers")  # fmt: skip
    trial.value, trial.train_seconds, trial.latency_ms_batch1 = ACCURACY, 83.4567, 1.23456
    trial.save(update_fields=["value", "train_seconds", "latency_ms_batch1"])
    Study.objects.filter(pk=trial.study_id).update(state=Study.State.COMPLETED, best_trial=trial)
    return trial


def _pairs(page, selector: str) -> dict[str, str]:
    """{term: text} of a <dl> or of a two-column table's rows."""
    return page.eval_on_selector(selector, """(el) => {
      const out = {};
      if (el.tagName === "DL") el.querySelectorAll("dt").forEach((dt) => { out[dt.textContent.trim()] = dt.nextElementSibling.textContent.trim(); });
      else el.querySelectorAll("tr").forEach((tr) => { const c = tr.children; if (c.length === 2) out[c[0].textContent.trim()] = c[1].textContent.trim(); });
      return out;
    }""")  # fmt: skip


def _best_card(page) -> dict[str, str]:
    return {"accuracy": page.inner_text("#best-value").strip(), **_pairs(page, "#best-card .params-list")}


def _subset(found: dict[str, str]) -> dict[str, str]:
    return {key: found.get(key) for key in EXPECTED}


def test_a_value_reads_the_same_everywhere(chromium_browser, new_page, live_server, best_trial, user):
    study_url = f"{live_server.url}/studies/{best_trial.study_id}/"

    # after a reload: the server's HTML as it arrives, before (here: without) the page's script
    context = chromium_browser.new_context(java_script_enabled=False)
    static = context.new_page()
    log_in(static, live_server, user)
    static.goto(study_url)
    reloaded = _best_card(static)
    context.close()

    # live: the script redraws the best-trial card and the table from the live data (over HTTP: no socket here)
    page = new_page()
    log_in(page, live_server, user)
    page.goto(study_url)
    page.wait_for_selector(f"#live-trials-body tr[data-number='{best_trial.number}']", timeout=45_000)
    page.wait_for_selector("#best-card[data-drawn=live] .params-list", state="attached")
    live = _best_card(page)
    row = page.locator(f"#live-trials-body tr[data-number='{best_trial.number}']")
    row_text = row.inner_text()

    page.goto(f"{live_server.url}/studies/{best_trial.study_id}/trials/{best_trial.number}/model/")
    model_page = {
        "accuracy": page.inner_text(".stats .stat .value >> nth=0").strip(),
        **_pairs(page, "#metadata table.compact"),
    }

    page.goto(f"{live_server.url}/models/compare/?t={best_trial.study_id}:{best_trial.number}")
    compare = _pairs(page, "#compare-table")

    out = io.StringIO()
    Command(stdout=out).report(Study.objects.select_related("best_trial").get(pk=best_trial.study_id))
    cli = {
        line.split(": ", 1)[0].strip(): line.split(": ", 1)[1].strip()
        for line in out.getvalue().splitlines()
        if ": " in line
    }
    cli["accuracy"] = cli.pop("Best validation accuracy").split(" ")[0]

    assert _subset(reloaded) == EXPECTED, reloaded
    assert _subset(live) == EXPECTED, live
    assert _subset(model_page) == EXPECTED, model_page
    assert _subset(cli) == EXPECTED, out.getvalue()
    assert (
        "75.1%" in row_text and "lr 7.78e-4" in row_text and "wd 3.16e-5" in row_text and "augment yes" in row_text
    ), row_text
    assert compare.get("validation accuracy", compare.get("Validation accuracy")) == "75.1%", compare
    assert compare.get("learning rate") == "7.78e-4" and compare.get("weight decay") == "3.16e-5", compare
    assert page.errors == []
