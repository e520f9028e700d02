"""Network emulation for experiments: traces, namespaces, tc shaping, a delay/loss relay, runs."""

# The scene the experiment's camera replays: one the models were neither trained nor evaluated
# on (it was 7, a training seed, so the tables' mIoU was measured on a scene the segmenter had
# seen). Training seeds are refused, as in `cloudseg eval` and `cloudseg profile`.
SCENE_SEED = 3000
