//! The cluster suite on the in-process bus: the cluster logic alone, nodes in this process.

use volley_tests::cluster::Backend;

volley_tests::cluster_suite!(Backend::memory());
