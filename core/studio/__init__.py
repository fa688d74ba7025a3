"""Azure ML Studio's shared data-plane protocols (BES jobs, RRS scoring, job configurations) and the Studio retrain workflow."""
