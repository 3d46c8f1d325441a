"""How good a trained model is: numbers only, no plots and no training.

One module per topic; every public name is importable from here as well (``metrics.evaluate_vae``,
``from fundamentalml.metrics import frechet_distance``):

* :mod:`.results`: the dataclasses every evaluation returns, and :func:`count_parameters`;
* :mod:`.checks`: the input checks every public metric runs first;
* :mod:`.vae`: a VAE's test-set ELBO and reconstruction error, and the importance-weighted bounds;
* :mod:`.gan`: an unconditional GAN's Fréchet distance, its training stability, the 2-D warm-ups' mode coverage;
* :mod:`.conditional`: conditional models read by a judge (conditioning accuracy, confusion, per-class numbers);
* :mod:`.frechet`: Fréchet distances, their feature spaces and floor, the Gaussian formula;
* :mod:`.diversity`: within-class diversity, the mode-collapse rule, sharpness;
* :mod:`.memorisation`: nearest training images, the copying rule and its power.

VAE numbers follow the seed's quantitative table: parameter count, reconstruction MSE on the test set,
test negative ELBO in nats, training time, final losses.
"""

from __future__ import annotations

from .checks import check_labels, check_model, check_unit_images
from .conditional import (JudgedAccuracy, conditioning_accuracy, confusion, evaluate_classifier, evaluate_conditional,
                          generate_per_class, judged_accuracy, per_class_discriminator_accuracy,
                          per_class_reconstruction_error)
from .diversity import (COLLAPSE_THRESHOLD, SharpnessDiversity, class_diversity, collapsed_classes, is_collapsed,
                        gradient_sharpness, high_frequency_share, pairwise_diversity, sharpness_and_diversity)
from .frechet import (FeatureExtractor, classifier_extractor, embed, frechet_distance, gaussian_frechet_distance,
                      held_out_floor, random_conv_extractor, sqrt_psd, standard_fid)
from .gan import ModeCoverage, evaluate_gan, gan_stability, mode_coverage
from .memorisation import COPY_FACTOR, COPY_QUANTILE, NearestTraining, copy_check_power, nearest_neighbours, nearest_training
from .results import ClassifierMetrics, ConditionalMetrics, GANMetrics, Metrics, VAEMetrics, count_parameters
from .vae import (IWAE_SUBSET_SEED, ImportanceWeightedBound, binarize, binarized_test_subset, evaluate_vae,
                  importance_log_weights, importance_weighted_bound)
