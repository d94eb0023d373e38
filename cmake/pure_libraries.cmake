# The pure libraries (protocol logic and data, no I/O) link no I/O or service library,
# directly or through another target: configuring fails if one does. Keeps them cheap to
# test, fuzz and reuse, and keeps libpq, OpenSSL and friends where the I/O is.

set(SMARTHOST_IO_LIBRARIES
    smarthost_core smarthost_net PostgreSQL::PostgreSQL OpenSSL::SSL OpenSSL::Crypto
    tomlplusplus::tomlplusplus PkgConfig::SODIUM PkgConfig::PROMETHEUS_CPP Boost::json
    spdlog::spdlog)

# Every library `target` links, through other targets too.
function(smarthost_linked_closure target out)
    set(seen "")
    set(pending "${target}")
    while(pending)
        list(POP_FRONT pending current)
        if(current IN_LIST seen)
            continue()
        endif()
        list(APPEND seen "${current}")
        if(NOT TARGET "${current}")
            continue()
        endif()
        get_target_property(type "${current}" TYPE)
        set(links "")
        if(NOT type STREQUAL "INTERFACE_LIBRARY")
            get_target_property(direct "${current}" LINK_LIBRARIES)
            if(direct)
                list(APPEND links ${direct})
            endif()
        endif()
        get_target_property(interface "${current}" INTERFACE_LINK_LIBRARIES)
        if(interface)
            list(APPEND links ${interface})
        endif()
        foreach(link IN LISTS links)
            # $<LINK_ONLY:x> is how a static library passes on its private links.
            string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" link "${link}")
            list(APPEND pending "${link}")
        endforeach()
    endwhile()
    list(REMOVE_ITEM seen "${target}")
    set(${out} "${seen}" PARENT_SCOPE)
endfunction()

function(smarthost_require_pure)
    foreach(target IN LISTS ARGN)
        smarthost_linked_closure(${target} linked)
        foreach(library IN LISTS SMARTHOST_IO_LIBRARIES)
            if(library IN_LIST linked)
                message(FATAL_ERROR "${target} is a pure library but links ${library}")
            endif()
        endforeach()
    endforeach()
endfunction()
