#include "bindings/common.h"

namespace fastdl::bind {

void init_batchnorm(py::module_& m) { (void)m; }

}  // namespace fastdl::bind
