# Traffic shaping per destination group, the pure part: group matching, the push-back and
# circuit-breaker state machines. The admin API shows their state too, so the fuzz-only
# build (which has no relay/delivery) needs it: included from the top-level CMakeLists.txt
# in both builds, like dsn.cmake.
add_library(smarthost_shaping STATIC
    ${CMAKE_CURRENT_LIST_DIR}/destination_backoff.cpp
    ${CMAKE_CURRENT_LIST_DIR}/destination_circuits.cpp
    ${CMAKE_CURRENT_LIST_DIR}/destination_groups.cpp
)
target_include_directories(smarthost_shaping PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(smarthost_shaping PUBLIC smarthost_core smarthost_smtp)
