"""Study orchestration, run by the `studies.run_slot` task: a slot's Optuna loop (`runner`), one trial on
the training service (`objective`), each trial's share of a time budget (`budget`) and the pruner (`pruning`)."""
