# The official HRNet segmentation schedule (lib/utils/utils.py adjust_learning_rate): poly, power 0.9, the
# lr set after each optimizer step from the iterations done (lib/core/function.py train), so step i runs at
# lr * (1 - (i - 1) / T) ** 0.9 and the first two at lr.
schedule = dict(type="poly", power=0.9, set_after_step=True)
