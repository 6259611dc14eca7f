/**
 * Activation checkpointing (what `torch.utils.checkpoint` does): a piece of
 * a model runs as one tape node that keeps only its inputs; the backward
 * pass runs the piece again under a fresh tape and differentiates that. The
 * intermediates of the piece (attention scores, the FFN's hidden layer, the
 * normalisations' temporaries …) are then not held between the forward and
 * the backward pass, for the cost of one more forward of the piece.
 */
import * as tf from "@tensorflow/tfjs-core";

/**
 * y = f(inputs), recomputed in the backward pass. `vars` are the variables f
 * reads whose gradients are wanted (a block's weights): they are inputs of
 * the node, so `tf.variableGrads` sees them. Tensors f reads by closure are
 * constants to it. Outside a recording tape, f simply runs. The forward
 * values are f's own (the same ops); f must not draw random numbers, since
 * the backward pass runs it again on the same inputs.
 */
export function recompute<T extends tf.Tensor>(f: (inputs: tf.Tensor[]) => T, inputs: tf.Tensor[], vars: tf.Variable[]): T {
  if (!tf.engine().isTapeOn()) return f(inputs);
  const n = inputs.length;
  const node = tf.customGrad((...args) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const ins = args.slice(0, n) as tf.Tensor[];
    save(ins);
    return {
      value: f(ins),
      gradFunc: (dy, saved) => {
        const xs = [...saved, ...vars];
        // The outer backward pass is running over its tape; a gradient computed here starts a
        // tape of its own and, ending, clears the engine's: the outer one is put back after.
        const state = tf.engine().state as unknown as { activeTape: unknown };
        const outer = state.activeTape;
        try {
          const { value, grads } = tf.engine().gradients(() => tf.sum(tf.mul(f(saved), dy as tf.Tensor)) as tf.Scalar, xs, undefined, true);
          value.dispose();
          return grads.map((g, i) => g ?? tf.zerosLike(xs[i]));
        } finally {
          state.activeTape = outer;
        }
      },
    };
  });
  return node(...inputs, ...vars) as T;
}
