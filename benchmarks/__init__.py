"""How fast FundamentalML trains, as ratios to a bare PyTorch loop timed in the same run on the same machine.

Run it from the repository root::

    python -m benchmarks --quick                      # vae-mlp and vae-cnn, 30 timed steps each
    python -m benchmarks --model vae-mlp,dcgan --steps 100 --bf16

The benchmark lives outside the package on purpose: ``fundamentalml`` never imports it, and it uses only the
package's public API (the registry, ``training.train``/``fit``, each model's ``batch_loss``/``update_batch`` and
``make_optimizers``). One module, one job:

* ``run``      -- the command line: measures every model in a fresh process, writes the JSON, prints the table;
* ``child``    -- ``python -m benchmarks.child``: measures one model in this (fresh) process, writes its JSON;
* ``measure``  -- what is measured for one model, and in which order;
* ``project``  -- the project path: the package's own training call on a registry budget, with an epoch clock;
* ``bare``     -- the bare PyTorch loop over the model's public per-batch API;
* ``datapath`` -- the textbook torchvision input pipeline (PIL image, ``ToTensor()``, default collate);
* ``flops``    -- FLOPs of a step, the matmul rate, peak memory, and what the machine is;
* ``quality``  -- ``--quality``: every model trained at fp32 and at bf16-mixed, headline metrics compared;
* ``book``     -- ``--book``: a cold and a cached ``jupyter-book build``, and the parser of its log;
* ``report``   -- the tables printed for the three;
* ``wholerun`` -- ``python -m benchmarks.wholerun``: a whole ``full`` run (start-up, epochs, validation, test
  evaluation) split by phase, against a bare loop over the same steps;
* ``layouts``  -- ``python -m benchmarks.layouts``: ``channels_last`` and ``torch.compile`` against eager for the
  conv models, at fp32 and bf16.
"""
