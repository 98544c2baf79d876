#include "bindings/common.h"

namespace fastdl::bind {

void init_softmax(py::module_& m) { (void)m; }

}  // namespace fastdl::bind
