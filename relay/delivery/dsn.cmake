# RFC 3464 delivery status notifications (pure; no I/O). Included from the top-level
# CMakeLists.txt so it can live beside the outbound SMTP client in relay/delivery/.
add_library(smarthost_dsn STATIC
    ${CMAKE_CURRENT_LIST_DIR}/dsn.cpp
)
target_include_directories(smarthost_dsn PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(smarthost_dsn PUBLIC smarthost_smtp)
