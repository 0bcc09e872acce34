# The official pose schedule: Adam, lr 1e-3, x0.1 at epochs 170 and 200, 210 epochs.
optimizer = dict(type="Adam", lr=1e-3)
schedule = dict(type="multistep", milestones=[170, 200], gamma=0.1)
train = dict(max_epochs=210, eval_interval=10)
