#include "bindings/common.h"

namespace fastdl::bind {

void init_attention(py::module_& m) { (void)m; }

}  // namespace fastdl::bind
