"""What the numbers mean: metric definitions, rollups, scores, abnormal-event rules."""
