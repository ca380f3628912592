# %% [markdown]
# # Lab 7: the lab report, handwritten digits with an MLP
#
# This lab is done in a team of **2 or 3 students** and handed in as one notebook: it
# is the lab report, and its mark is the grade G1 of the course. You put together
# everything from the previous labs: a small multi-layer perceptron (MLP), a loss, an
# optimiser and a training loop that you write yourselves, applied to a real (if tiny)
# image data set. Then you look at what the network learned and answer three questions
# about generalisation in your own words.
#
# **The data.** scikit-learn ships a small set of handwritten digits
# (`sklearn.datasets.load_digits`, nothing to download): 1797 grey-scale images of
# $8 \times 8$ pixels, each pixel an integer intensity from 0 (white) to 16 (black),
# labelled 0 to 9. Flattened, each image is a vector of 64 numbers, so a digit is a
# point $x \in \mathbb{R}^{64}$ and the task is a 10-class classification.
#
# **What you write.**
#
# 1. `team()`: the names of the team members.
# 2. `train_digits(X_train, y_train, seed=0)`: builds an MLP, trains it with your own
#    minibatch loop and returns the trained model and its training history.
# 3. The figures: the training curves, a few misclassified digits (and, if you like,
#    a confusion matrix).
# 4. Three written answers, graded by hand.
#
# **Conventions (the grader relies on them).**
#
# - `team()` returns a list of 2 or 3 strings, one full name per member.
# - `train_digits(X_train, y_train, seed=0)` receives `X_train`, a float tensor of shape
#   `[n, 64]` holding the **raw** pixel values (0 to 16, not rescaled), and `y_train`, an
#   `int64` tensor of shape `[n]` with the labels 0 to 9. Its first statement is
#   `torch.manual_seed(seed)`, so that a run can be repeated exactly.
# - It returns `(model, history)`. `model` is a `torch.nn.Module` that maps a raw
#   `[m, 64]` batch to `[m, 10]` **logits** (scores before the softmax; the predicted
#   class is the argmax). Any rescaling of the pixels therefore happens **inside** the
#   model: here the model standardises each pixel with the mean and standard deviation
#   of the training set, stored in the model as buffers. Return the model in evaluation
#   mode (`model.eval()`), on the device and in the dtype of `X_train`.
# - `history` is a dictionary `{"loss": [...], "accuracy": [...]}` with one Python
#   `float` per epoch in each list: `loss` is the mean training cross-entropy over the
#   epoch (the average over all training examples of the minibatch losses seen during
#   that epoch), and `accuracy` is the fraction of training examples the model
#   classifies correctly at the end of that epoch (a value in $[0, 1]$).
# - The grader calls `train_digits` on the training part of the same split as below
#   (stratified, 25% held out for the test, `random_state=0`), then measures the
#   accuracy of the returned model on the held-out 450 digits, which `train_digits`
#   never sees. The grader trains it twice (with two seeds) and gives both runs
#   **60 seconds on one CPU core** together, so one run must take less than 30 seconds;
#   aim for less than 15 (the reference solution takes a few seconds).
# - Your code must work for `float32` and `float64` inputs, on CPU and on CUDA.
#
# **What you may use.** `torch.nn` layers and losses (`nn.Linear`, `nn.ReLU`,
# `nn.CrossEntropyLoss`, ...) and `torch.optim` optimisers are allowed here, and so is
# your own code from Labs 5 and 6. scikit-learn is only for loading and splitting the
# data: **no** scikit-learn models (`MLPClassifier`, `LogisticRegression`, ...), no
# training libraries that write the loop for you (PyTorch Lightning, skorch, ignite,
# ...), no pretrained weights. The loop that goes through the minibatches (forward,
# loss, `zero_grad`, `backward`, `step`) is yours.
#
# ## How the report is graded
#
# The report is worth **20 points**, and the points obtained are the grade G1 (out of
# 20). The course grade is $0.5 \times G1 + 0.5 \times G2$, where G2 is the written exam
# (the weights are set in the course configuration).
#
# | part | id | points | graded by |
# | --- | --- | --- | --- |
# | the team's names | `lab7.team` | 1 | grader |
# | the history: two lists of floats, one value per epoch | `lab7.train_digits` | 1 | grader |
# | test accuracy: 0.90 for half the points, 0.95 for all | `lab7.train_digits` | 6 | grader |
# | the training curves and their caption | `lab7.figures` | 2 | TAs |
# | question on generalisation | `lab7.q_generalisation` | 4 | TAs |
# | question on capacity and regularisation | `lab7.q_capacity` | 3 | TAs |
# | question on the limits of the study | `lab7.q_limitations` | 3 | TAs |
#
# The autograded part (8 points) is what `grade check lab7_report.ipynb` reports; run it
# as often as you like. The teaching assistants grade the rest (12 points) in nbgrader:
# they read your figures and your answers in the cells marked for them. So hand in the
# notebook **with its outputs** (restart the kernel and run every cell before handing
# in), otherwise there is no figure to grade.
#
# **Checking your work.** The cells that call `check` grade one exercise at a time.

# %%
import torch
from torch import nn

# %% [markdown]
# ## 1. The team
#
# Write the full names of the 2 or 3 members of the team, one string each. Every member
# gets the grade of the report, so nobody should be missing.


# %%
def team() -> list[str]:
    """The full names of the 2 or 3 team members."""
    ### BEGIN SOLUTION
    return ["Ada Example", "Alan Example"]
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab7.team")

# %% [markdown]
# ## 2. The data
#
# We load the digits and split them once and for all: 75% for training, 25% for the
# test. The split is **stratified**: each digit keeps the same share in both parts (about
# 10% each), so the test set is not accidentally poor in, say, sevens. Fixing
# `random_state=0` makes it the very split the grader uses.
#
# From now on the test set is only used to **measure** the final model. Every choice
# (architecture, learning rate, number of epochs) is made without looking at it; we
# come back to this in the questions.

# %% tags=["skip-grading"]
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

digits = load_digits()
X_all, y_all = digits.data, digits.target  # [1797, 64] floats in 0..16, [1797] labels
X_tr_np, X_te_np, y_tr_np, y_te_np = train_test_split(
    X_all, y_all, test_size=0.25, random_state=0, stratify=y_all
)
X_train = torch.tensor(X_tr_np, dtype=torch.float32)
y_train = torch.tensor(y_tr_np, dtype=torch.int64)
X_test = torch.tensor(X_te_np, dtype=torch.float32)
y_test = torch.tensor(y_te_np, dtype=torch.int64)
print(f"training set: {tuple(X_train.shape)}, test set: {tuple(X_test.shape)}")
print("training examples per class:", torch.bincount(y_train).tolist())

# %% tags=["skip-grading"]
# One training example of each class, as the 8x8 image it comes from.
fig, axes = plt.subplots(1, 10, figsize=(10, 1.6))
for digit, ax in enumerate(axes):
    index = int((y_train == digit).nonzero()[0])
    ax.imshow(X_train[index].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
    ax.set_title(str(digit))
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 3. The model and the training loop
#
# **The model.** An MLP with one hidden layer of $H$ ReLU units:
#
# $$z = \frac{x - \mu}{s}, \qquad h = \operatorname{ReLU}(W_1 z + b_1), \qquad
# f(x) = W_2 h + b_2 \in \mathbb{R}^{10},$$
#
# with $W_1 \in \mathbb{R}^{H \times 64}$ and $W_2 \in \mathbb{R}^{10 \times H}$. The
# first step standardises every pixel: $\mu$ and $s$ are the per-pixel mean and standard
# deviation over the **training** images. They are not learned, but they belong to the
# model (a model that receives raw pixels must rescale them the same way at test time),
# so we keep them as **buffers** (`self.register_buffer`): buffers move with
# `model.to(...)` and are saved in `state_dict`, but the optimiser does not touch them.
# A few border pixels are almost always 0, so their standard deviation is tiny or zero;
# dividing by it would blow up the rare non-zero value. We therefore use
# $s = \max(\text{std}, 1)$, one intensity level.
#
# **The loss.** The outputs are logits: the softmax turns them into class
# probabilities $p_k = e^{f_k} / \sum_j e^{f_j}$, and training minimises the mean
# cross-entropy $-\frac{1}{N}\sum_i \log p_{y_i}(x_i)$ (`nn.CrossEntropyLoss`, which
# works on the logits directly and computes the log-softmax stably). At test time the
# prediction is the class with the largest logit (the MAP rule).
#
# **The loop.** Each epoch shuffles the training set (`torch.randperm`), cuts it into
# minibatches of 32 examples (the last one smaller) and, for each minibatch, runs the
# forward pass, the loss, `zero_grad`, `backward` and an optimiser `step`. We use Adam
# (learning rate $10^{-3}$) with a small **weight decay** $\lambda = 10^{-4}$, which adds
# $\lambda w$ to the gradient of every parameter, that is, the gradient of the penalty
# $\frac{\lambda}{2}\lVert w \rVert^2$: it pulls the weights towards zero and slightly
# limits how closely the network fits the training set. After each epoch we record the
# mean training loss and the training accuracy (measured on the whole training set in
# evaluation mode, without gradients).
#
# The code is split into a model class, a general helper `fit_mlp` (whose settings you
# can vary, which we do in section 5) and `train_digits`, which fixes the team's
# choices. Only `train_digits` is graded: feel free to organise your code differently,
# to add layers or to change the settings, as long as the conventions above hold.


# %%
def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose largest logit is at the true class (a Python float)."""
    return (logits.argmax(dim=1) == y).sum().item() / y.shape[0]


class DigitsMLP(nn.Module):
    """Standardise the raw pixels, then Linear(64, H), ReLU, Linear(H, 10)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, hidden: int = 128):
        """Keep the pixel statistics as buffers and create the two layers."""
        super().__init__()
        ### BEGIN SOLUTION
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clone())
        self.linear1 = nn.Linear(mean.shape[0], hidden)
        self.linear2 = nn.Linear(hidden, 10)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map raw pixels [m, 64] to logits [m, 10]."""
        ### BEGIN SOLUTION
        z = (x - self.mean) / self.std
        return self.linear2(torch.relu(self.linear1(z)))
        ### END SOLUTION


def fit_mlp(
    X: torch.Tensor,
    y: torch.Tensor,
    hidden: int = 128,
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
) -> tuple[nn.Module, dict[str, list[float]]]:
    """Train a DigitsMLP on (X, y) with minibatch Adam; return (model, history).

    Uses PyTorch's global random generator: seed it before calling.
    """
    ### BEGIN SOLUTION
    n = X.shape[0]
    std = X.std(dim=0).clamp(min=1.0)
    model = DigitsMLP(X.mean(dim=0), std, hidden).to(device=X.device, dtype=X.dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n).to(X.device)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            loss = loss_fn(model(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.shape[0]
        history["loss"].append(total / n)
        model.eval()
        with torch.no_grad():
            history["accuracy"].append(accuracy(model(X), y))
    return model, history
    ### END SOLUTION


def train_digits(
    X_train: torch.Tensor, y_train: torch.Tensor, seed: int = 0
) -> tuple[nn.Module, dict[str, list[float]]]:
    """Seed, train the team's MLP on raw pixels and return (model in eval mode, history)."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    model, history = fit_mlp(X_train, y_train, hidden=128, epochs=30)
    model.eval()
    return model, history
    ### END SOLUTION


# %% tags=["skip-grading"]
from deepgrade.notebook import check

check("lab7.train_digits")

# %% [markdown]
# ## 4. Training and results
#
# We train once with the graded settings and only then look at the test set.

# %% tags=["skip-grading"]
import time

try:
    start = time.perf_counter()
    model, history = train_digits(X_train, y_train, seed=0)
    seconds = time.perf_counter() - start
except NotImplementedError:
    model, history = None, None
    print("implement train_digits first, then run this cell again")
else:
    with torch.no_grad():
        test_logits = model(X_test)
    test_accuracy = accuracy(test_logits, y_test)
    print(f"trained {len(history['loss'])} epochs in {seconds:.1f} s")
    print(f"final training loss {history['loss'][-1]:.4f}")
    print(f"training accuracy {history['accuracy'][-1]:.4f}, test accuracy {test_accuracy:.4f}")

# %% tags=["skip-grading"]
if history is None:
    print("implement train_digits first, then run this cell again")
else:
    epochs = range(1, len(history["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
    ax_loss.plot(epochs, history["loss"], marker=".")
    ax_loss.set_yscale("log")
    ax_loss.set_title("training loss (cross-entropy, log scale)")
    ax_loss.set_ylabel("mean loss over the epoch")
    ax_acc.plot(epochs, history["accuracy"], marker=".", label="training accuracy")
    ax_acc.axhline(
        test_accuracy, color="tab:red", linestyle="--", label="test accuracy (final model)"
    )
    ax_acc.axhline(0.95, color="gray", linestyle=":", label="0.95 (full points)")
    ax_acc.set_ylim(0.8, 1.005)
    ax_acc.set_title("accuracy")
    ax_acc.legend(loc="lower right")
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    plt.show()

# %% [markdown]
# **Figure (2 points, graded by hand: `lab7.figures`).** The teaching assistants grade
# the two panels above (a loss curve and an accuracy curve, one value per epoch, with
# titled and labelled axes) together with the caption you write in the next cell: two or
# three sentences saying what the figure shows and what you conclude from it.

# %% [markdown] tags=["manual:lab7.figures"]
# *Left:* the mean training cross-entropy per epoch, on a log scale. It falls from 1.7
# to about 0.2 in the first five epochs and then keeps decreasing steadily, down to
# about 0.01 at epoch 30, without levelling off. *Right:* the training accuracy after
# each epoch: 0.84 after the first epoch, above 0.95 from epoch 4, and 1 (no training
# error at all) from about epoch 20. The dashed line is the test accuracy of the final
# model, 0.976: the gap of about two points to the training accuracy is the
# generalisation gap, and the test accuracy is well above the 0.95 target.

# %% [markdown]
# ### Where does the network go wrong?
#
# Accuracy is one number; looking at the mistakes tells us more. Below are the test
# digits that the model gets wrong, with the true label and the prediction, and the
# confusion matrix: row $i$, column $j$ counts the test digits of class $i$ predicted
# as $j$, so a perfect classifier has non-zero counts on the diagonal only.

# %% tags=["skip-grading"]
if model is None:
    print("implement train_digits first, then run this cell again")
else:
    predictions = test_logits.argmax(dim=1)
    wrong = (predictions != y_test).nonzero().flatten()[:12]
    print(f"{int((predictions != y_test).sum())} of {len(y_test)} test digits are misclassified")
    columns = max(len(wrong), 1)
    fig, axes = plt.subplots(1, columns, figsize=(1.2 * columns, 1.9), squeeze=False)
    for ax in axes[0]:
        ax.axis("off")
    for ax, index in zip(axes[0], wrong.tolist(), strict=False):
        ax.imshow(X_test[index].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
        ax.set_title(f"true {int(y_test[index])}\npred {int(predictions[index])}", fontsize=9)
    plt.show()

# %% tags=["skip-grading"]
if model is None:
    print("implement train_digits first, then run this cell again")
else:
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    confusion.index_put_((y_test, predictions), torch.ones_like(y_test), accumulate=True)
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.imshow(confusion, cmap="Blues")
    for i in range(10):
        for j in range(10):
            if confusion[i, j] > 0:
                color = "white" if confusion[i, j] > 20 else "black"
                ax.text(
                    j, i, int(confusion[i, j]), ha="center", va="center", color=color, fontsize=8
                )
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("confusion matrix on the test set")
    plt.show()

# %% [markdown]
# ## 5. An experiment on capacity
#
# How large should the hidden layer be? A choice like this must not be made on the test
# set, so we set part of the **training** data aside as a **validation set**: 20% of
# it, again stratified. For several hidden sizes $H$ we train on the remaining 80% and
# compare the accuracy on the data seen in training with the accuracy on the validation
# set. (This takes a few seconds.)

# %% tags=["skip-grading"]
X_fit, X_val, y_fit, y_val = train_test_split(
    X_train, y_train, test_size=0.2, random_state=0, stratify=y_train
)
sizes = [2, 8, 32, 128, 512]
fit_accuracies, val_accuracies = [], []
try:
    for hidden in sizes:
        torch.manual_seed(0)
        net, _ = fit_mlp(X_fit, y_fit, hidden=hidden, epochs=30)
        with torch.no_grad():
            fit_accuracies.append(accuracy(net(X_fit), y_fit))
            val_accuracies.append(accuracy(net(X_val), y_val))
        print(f"H = {hidden:4d}: training {fit_accuracies[-1]:.3f}, ", end="")
        print(f"validation {val_accuracies[-1]:.3f}")
except NotImplementedError:
    print("implement fit_mlp first, then run this cell again")
else:
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(sizes, fit_accuracies, marker="o", label="training part")
    ax.plot(sizes, val_accuracies, marker="o", label="validation part")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(size) for size in sizes])
    ax.set_xlabel("hidden units H")
    ax.set_ylabel("accuracy")
    ax.set_title("accuracy against the size of the hidden layer")
    ax.grid(alpha=0.3)
    ax.legend()
    plt.show()

# %% [markdown]
# ## 6. Questions
#
# Answer each question in the cell below it, in your own words, in a few sentences. Use
# your own numbers and figures as evidence. The teaching assistants grade the answers by
# hand.
#
# **Question 1: generalisation (4 points).** Compare the final training accuracy of
# your model with its test accuracy. How large is the gap, and does your network
# overfit? What is a validation set for, and why must the test set not be used to choose
# settings such as the number of epochs or the hidden size? How precise is an accuracy
# measured on 450 test digits?

# %% [markdown] tags=["manual:lab7.q_generalisation"]
# Our model classifies every training digit correctly (training accuracy 1.000) and
# about 97.6% of the test digits, so the gap is a bit over two points, roughly 11 errors
# out of 450. Training error is not an honest estimate of the error on new digits: the
# parameters were chosen to make it small. The network does fit the training set
# perfectly, with a training loss still going down, so in that sense it has started to
# memorise; but the test accuracy stays high, so the overfitting is mild and does not
# hurt the result much.
#
# A validation set is a part of the training data that is set aside and never used to
# update the weights. It serves to compare settings (hidden size, learning rate, weight
# decay, number of epochs, early stopping) and to pick the best. If the test set is used
# for those choices, the chosen model is partly fitted to the test set and its test
# accuracy becomes an optimistic, biased estimate; the test set must be touched once,
# at the end, to report the performance.
#
# With 450 test digits, one error changes the accuracy by 0.22 point. Treating the
# errors as independent, the standard deviation of the measured accuracy is about
# $\sqrt{0.976 \times 0.024 / 450} \approx 0.007$, so differences of less than about
# 1.5 points between two models are within the noise.

# %% [markdown]
# **Question 2: capacity and regularisation (3 points).** What happens to the training
# and validation accuracy when the hidden layer is very small or very large (section 5)?
# Explain the result. How do weight decay and early stopping limit overfitting, and
# which did you use?

# %% [markdown] tags=["manual:lab7.q_capacity"]
# With 2 hidden units the network is far too small for ten classes: every digit has to
# be squeezed through two numbers, and both the training and the validation accuracy stay
# near 0.38. It underfits; the error comes from the lack of capacity (approximation
# error), not from overfitting. With 8 units the training accuracy is 0.96 and the
# validation accuracy 0.94; from 32 units on, the training part is (almost) learned by
# heart and the validation accuracy reaches 0.97 to 0.98, and going from 128 to 512 units
# brings at most a few tenths of a point, within the noise of 270 validation digits. So
# beyond a moderate size the extra capacity is mostly used to fit the training set more
# tightly; on this easy problem it does not hurt, but the validation set, not the
# training accuracy, is what tells us when more capacity stops helping.
#
# Weight decay adds $\frac{\lambda}{2}\lVert w \rVert^2$ to the loss, which pulls the
# weights towards zero and favours smoother functions that generalise better. Early
# stopping monitors the validation loss during training, stops when it has not improved
# for a few epochs and keeps the weights of the best epoch, which prevents the late
# epochs from fitting the training set ever more tightly. We used a small weight decay
# ($10^{-4}$) and a fixed number of epochs (30) instead of early stopping; both settings
# were checked on the validation set (0.978 with 128 units), never on the test set.

# %% [markdown]
# **Question 3: limitations (3 points).** Name one important limitation of this study,
# explain why it matters, and say how you would address it.

# %% [markdown] tags=["manual:lab7.q_limitations"]
# The data set is small and very clean: 1797 digits at a resolution of 8x8, centred and
# scaled the same way, and written by a limited group of people. Our test accuracy only
# tells us how well the model does on digits from the same source; real handwriting
# (another scanner, other writers, digits shifted by a pixel) could be classified much
# worse, because an MLP on flattened pixels has no notion that an image shifted by one
# pixel is the same digit. Moreover, all results come from one split and one seed, so
# the estimates carry noise of about one point. To address this we would repeat the
# training with several seeds and splits (or use cross-validation) and report a mean and
# a spread, and test on a larger and more varied set such as MNIST, possibly with a
# convolutional network and data augmentation (small shifts and rotations).

# %% [markdown]
# ## Wrapping up
#
# A one-hidden-layer network trained for a few seconds recognises these digits with an
# accuracy around 97%. The more useful lessons are about method: keep the test set for
# the end, make choices on a validation set, read the training curves, and look at the
# mistakes as well as at the score. Before handing in, restart the kernel, run every
# cell, and check that the figures and your answers are there.
