#pragma once
/// \file
/// Exceptions thrown by dualgrad. Every error names the input that was wrong
/// and what was wrong with it; nothing in the library fails silently.

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace dualgrad {

/// Base class of every exception dualgrad throws.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Two inputs whose shapes must agree do not (S and its gradients, a map and a mask, ...).
class shape_error : public error {
public:
    using error::error;
};

/// An input holds a value outside its domain (NaN, Inf, a threshold outside [0, 1], x1 < x0, ...).
class value_error : public error {
public:
    using error::error;
};

/// A file or stream could not be read or holds malformed data.
class io_error : public error {
public:
    using error::error;
};

namespace detail {

/// Concatenates its arguments with operator<< into one message.
template <class... Args>
[[nodiscard]] std::string concat(Args&&... args) {
    std::ostringstream os;
    (os << ... << std::forward<Args>(args));
    return os.str();
}

template <class E = error, class... Args>
[[noreturn]] void raise(Args&&... args) {
    throw E(concat(std::forward<Args>(args)...));
}

} // namespace detail
} // namespace dualgrad
