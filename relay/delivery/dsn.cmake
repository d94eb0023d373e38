# RFC 3464 delivery status notifications, and the queue::NewMessage that stores one
# (dsn_message). Pure: no I/O, no Asio, no libpq; it links relay/smtp alone (NewMessage is
# plain data from relay/queue/new_message.hpp). Included from the top-level CMakeLists.txt
# so it can live beside the outbound SMTP client in relay/delivery/.
add_library(smarthost_dsn STATIC
    ${CMAKE_CURRENT_LIST_DIR}/dsn.cpp
    ${CMAKE_CURRENT_LIST_DIR}/dsn_message.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cancel_report.cpp
)
target_include_directories(smarthost_dsn PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(smarthost_dsn PUBLIC smarthost_smtp)
