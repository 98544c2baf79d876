// The one extension module, fastdl._core. Private: Python code reaches it through fastdl.ops.
#include "bindings/common.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastdl's compiled kernels (private; use fastdl.ops)";
  namespace b = fastdl::bind;
  b::init_runtime(m);
  b::init_activation(m);
  b::init_matmul(m);
  b::init_batchnorm(m);
  b::init_optim(m);
  b::init_attention(m);
  b::init_softmax(m);
  b::init_buffer_pool(m);
}
