"""Options of the network's components (``cell=``, ``encoder=``, ``head=``, ``model``) and of the optimisation
(``optimizer=``, ``scheduler=``): the one place their names, types, defaults and bounds are written."""

from __future__ import annotations

from typing import Literal

from seqlab.schema.core import component, option

PROBABILITY = {"ge": 0, "lt": 1}


def cell(name: str):
    return component("cell", name, package="model.cell")


def encoder(name: str, named: str | None = None):
    return component("encoder", name, package="model.encoder", named=named or name)


def head(name: str):
    return component("head", name, package="model.head")


# -- cells ------------------------------------------------------------------------------------------------------------
# Elman RNN (Elman 1990): h_t = tanh(W_x x_t + b_x + W_h h_{t-1}); fused path: torch.nn.RNN(nonlinearity="tanh").
@cell("rnn_tanh")
class RNNTanh:
    pass


# h_t = max(0, W_x x_t + b_x + W_h h_{t-1}); fused path: torch.nn.RNN(nonlinearity="relu").
@cell("rnn_relu")
class RNNReLU:
    pass


# IRNN (Le, Jaitly & Hinton 2015): a ReLU RNN whose recurrent matrix starts as recurrent_scale * I.
@cell("irnn")
class IRNN:
    # 1.0 (the paper's IRNN) for long-range tasks: at init h and the gradient pass each step unchanged; a small scale
    # such as 0.01 (the paper's iRNN, on TIMIT) shrinks both by that factor per step.
    recurrent_scale: float = option(1.0, ge=0, help="W_h starts as this times the identity")
    input_std: float = option(0.001, gt=0, help="W_x starts as N(0, input_std^2), as in the paper's experiments")


# LSTM (Hochreiter & Schmidhuber 1997, forget gate of Gers et al. 2000); fused path: torch.nn.LSTM.
# forget_bias 1.0: Gers, Schmidhuber & Cummins 2000, Jozefowicz, Zaremba & Sutskever 2015 and Keras
# (LSTM(unit_forget_bias=True), its default); 0.0 keeps PyTorch's uniform init of b_f.
@cell("lstm")
class LSTM:
    forget_bias: float = option(1.0, help="initial forget-gate bias b_f")


# Peephole LSTM (Gers & Schmidhuber 2000): the gates also read the cell state through diagonal weights.
@cell("peephole_lstm")
class PeepholeLSTM(LSTM):
    pass


# CIFG (Greff et al. 2017, "LSTM: A Search Space Odyssey"): f_t = 1 - i_t, so the input-gate bias b_i starts at
# -forget_bias. peepholes=true: Greff et al.'s CIFG exactly (their vanilla LSTM has peepholes).
@cell("coupled_lstm")
class CoupledLSTM(LSTM):
    peepholes: bool = option(False, help="p_i * c_{t-1} in i, p_o * c_t in o")


# GRU (Cho et al. 2014). Keras' two conventions (keras.layers.GRU(reset_after=...)): true is cuDNN / torch.nn.GRU /
# Keras' default, r * (W_hn h + b_hn); false is Cho et al. 2014 and the Coursera notes, W_hn (r * h) (step path only).
@cell("gru")
class GRU:
    reset_after: bool = option(True, help="apply the reset gate after the recurrent product")


# IndRNN (Li et al. 2018): h_t = ReLU(W_x x_t + b_x + u * h_{t-1}); |u| clamped to recurrent_max after every optimizer
# step, u starts uniform in [0, recurrent_max]. The authors' notes (Sunnydreamrain/IndRNN_pytorch README) allow
# [-1, 1] "for simplicity"; for 2^(1/T) at length T (batzner/indrnn) set it to 2 ** (1 / T).
@cell("indrnn")
class IndRNN:
    recurrent_max: float = option(1.0, gt=0, help="bound of |u|")


# minGRU / minLSTM (Feng et al. 2024, "Were RNNs all we needed?"): gates read only x_t, so training runs as a
# parallel scan (path=scan; path=auto picks it).
@cell("mingru")
class MinGRU:
    pass


@cell("minlstm")
class MinLSTM:
    pass


# -- encoders ---------------------------------------------------------------------------------------------------------
# The default encoder: the cell (cell=NAME, at model.cell) run by seqlab's Recurrent loop.
@encoder("recurrent")
class Recurrent:
    hidden_size: int = option(256, gt=0)
    num_layers: int = option(1, ge=1)
    bidirectional: bool = option(False)
    dropout: float = option(0.0, **PROBABILITY, help="between stacked layers")
    path: Literal["auto", "fused", "structured", "step", "scan"] = option("auto")
    compile: bool = option(False, help="torch.compile the cell's pointwise update (structured/step paths)")


# Both directions (outputs concatenated: 2*H), for tasks that may read the whole sequence. A recipe selects this
# option rather than setting bidirectional, so that swapping the encoder after it leaves no key behind.
@encoder("bidirectional", named="recurrent")
class Bidirectional(Recurrent):
    bidirectional: bool = option(True)


# An order-free baseline: the mean (or sum) of the input vectors through an MLP (language models: the running bag).
@encoder("bag_of_words")
class BagOfWords:
    pool: Literal["mean", "sum"] = option("mean")
    hidden_size: int = option(256, gt=0, help="MLP width = output size")
    num_layers: int = option(1, ge=1, help="Linear → tanh layers")
    dropout: float = option(0.0, **PROBABILITY, help="between MLP layers")


# A baseline without recurrence: each step sees only the last `window` inputs, joined, through an MLP (causal).
@encoder("fixed_window")
class FixedWindow:
    window: int = option(5, ge=1, help="inputs each step sees (x_{t-N+1} … x_t)")
    hidden_size: int = option(256, gt=0, help="MLP width = output size")
    num_layers: int = option(1, ge=1, help="Linear → tanh layers")
    dropout: float = option(0.0, **PROBABILITY, help="between MLP layers")


# Self-attention (pre-norm torch.nn.TransformerEncoder): input projection + positions → num_layers blocks.
@encoder("transformer")
class Transformer:
    hidden_size: int = option(128, gt=0, help="d_model = output size")
    num_layers: int = option(2, ge=1)
    num_heads: int = option(4, ge=1, help="must divide hidden_size")
    feedforward_size: int | None = option(None, gt=0, help="null: 4 * hidden_size")
    dropout: float = option(0.1, **PROBABILITY)
    positional: Literal["sinusoidal", "learned"] = option("sinusoidal")
    max_length: int = option(512, ge=1, help="positions attended; longer inputs are an error")
    causal: Literal["auto"] | bool = option("auto", help="auto: left to right for language models and generation")


# -- heads ------------------------------------------------------------------------------------------------------------
# The head that fits the data's task (seqlab.models.builder.DEFAULT_HEADS).
@head("auto")
class Auto:
    pass


# A prediction at every step: language models (next token) and aligned tagging.
@head("many_to_many")
class ManyToMany:
    tie_weights: bool = option(False, help="share the output matrix with the input embedding")
    dropout: float = option(0.0, **PROBABILITY, help="on encoder outputs before the output layer")


# One label per sequence (task classification): pooled encoder outputs → class logits.
@head("many_to_one")
class ManyToOne:
    pool: Literal["last", "mean", "max", "attention"] = option("last")
    attention_size: int = option(64, gt=0, help="hidden size of the attention-pooling scorer")
    dropout: float = option(0.0, **PROBABILITY, help="on the pooled vector before the output layer")
    class_weights: Literal["spec"] | list | None = option(None, help="null, spec, or one weight per class")


# A sequence from a condition (task conditional_generation); the model's encoder is the decoder (left to right).
@head("one_to_many")
class OneToMany:
    condition_init: bool = option(True, help="the condition sets the decoder's initial state")
    condition_input: bool = option(False, help="the condition is added to the input at every step")
    condition_dim: int | None = option(None, gt=0, help="null: model.embedding_dim")
    dropout: float = option(0.0, **PROBABILITY, help="on decoder outputs before the output layer")


# One real number per sequence (task regression), squared-error loss; pool=none: one number per step (data=timeseries).
@head("regression")
class Regression:
    pool: Literal["last", "mean", "none"] = option("last")
    dropout: float = option(0.0, **PROBABILITY, help="on the pooled vector before the output layer")


# Encoder-decoder for unaligned sequences (task translation); the decoder uses the encoder's cell.
@head("seq2seq")
class Seq2Seq:
    attention: Literal["none", "bahdanau", "luong"] = option("bahdanau")
    score: Literal["dot", "general", "additive"] | None = option(None, help="luong: dot | general; bahdanau: additive")
    attention_size: int | None = option(None, gt=0, help="additive scorer size (null: the decoder size)")
    teacher_forcing: float = option(1.0, ge=0, le=1, help="chance of feeding the true previous token while training")
    beam_size: int = option(1, ge=1, help="> 1: beam search in generate()")
    length_penalty: float = option(0.0, ge=0, help="GNMT length penalty alpha for beam search (0: none)")
    dropout: float = option(0.0, **PROBABILITY, help="on decoder outputs before the output layer")


# -- the network around them (model.*: embedding → encoder → head) ----------------------------------------------------
@component("model", "default", package=None, named=False)
class Model:
    embedding: Literal["learned", "onehot", "linear", "identity"] = option(
        "learned", help="learned | onehot (token ids); linear | identity (real-valued inputs)")
    embedding_dim: int = option(64, gt=0)
    pretrained_vectors: str | None = option(None, help="a GloVe/word2vec text file that starts the embedding")
    freeze_embedding: bool = option(False)
    # null: PyTorch's default init; r: embedding and output weights ~ U(-r, r), output bias 0 — pytorch/examples
    # word_language_model (model.py init_weights, r = 0.1) and Zaremba, Sutskever & Vinyals 2014 (U(-0.1, 0.1))
    init_range: float | None = option(None, gt=0)
    # pytorch/examples word_language_model: drop(encoder(input)); Zaremba et al. 2014 drop every non-recurrent
    # connection, the embedding's included
    embedding_dropout: float = option(0.0, **PROBABILITY)


# -- optimisation -----------------------------------------------------------------------------------------------------
def optimizer(name: str, target: str):
    return component("optimizer", name, package="optimizer", target=target, partial=True, named=False)


@optimizer("adam", "torch.optim.Adam")
class Adam:
    lr: float = option(0.003, gt=0, lt=1e6, help="larger is a typo; Adam's first step overflows float32 near 1e37")
    weight_decay: float = option(0.0, ge=0)


@optimizer("adamw", "torch.optim.AdamW")
class AdamW:
    lr: float = option(0.003, gt=0, lt=1e6, help="larger is a typo; Adam's first step overflows float32 near 1e37")
    weight_decay: float = option(0.01, ge=0)


@optimizer("sgd", "torch.optim.SGD")
class SGD:
    lr: float = option(1.0, gt=0, lt=1e6, help="larger is a typo; Adam's first step overflows float32 near 1e37")
    momentum: float = option(0.0, ge=0, lt=1)


@component("scheduler", "none", package="scheduler", named=False)
class NoSchedule:
    pass


@component("scheduler", "cosine", package="scheduler", target="torch.optim.lr_scheduler.CosineAnnealingLR",
           partial=True, named=False)
class Cosine:
    T_max: int = option("${trainer.max_steps}", ge=1, help="steps of one cosine half-period")


# factor 0.25 and patience 0: pytorch/examples word_language_model's annealing (lr /= 4 after any validation without
# improvement), which +experiment=word_lm follows.
@component("scheduler", "plateau", package="scheduler", target="torch.optim.lr_scheduler.ReduceLROnPlateau",
           partial=True, named=False)
class Plateau:
    factor: float = option(0.25, gt=0, lt=1)
    patience: int = option(0, ge=0)
    threshold: float = option(1e-4, ge=0, help="relative improvement that counts (PyTorch's default 1e-4)")
