#pragma once
/// \file
/// The first principal component of one sample's activations, on the host with Eigen (backend/
/// holds the headers that include Eigen): what Eigen-CAM and Eigen-Grad-CAM
/// (core/projection_methods.hpp) project on.

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <Eigen/Dense>

namespace dualgrad::detail {

/// The projection of one sample's activations `x` (K x P, channel-major, as in NCHW) onto their
/// first principal direction over the P pixels: (X - mean) v, with X = x^T (P x K), v the top right
/// singular vector of the centred X, signed so that sum_k v_k >= 0. Written to `out` (P values).
/// A sample whose centred activations are all zero gets a zero map.
inline void principal_projection(const float* x, std::int64_t K, std::int64_t P, float* out) {
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Map<const RowMajor> xkp(x, K, P);
    Eigen::MatrixXd X = xkp.cast<double>().transpose(); // P x K
    X.rowwise() -= X.colwise().mean();
    Eigen::VectorXd v;
    if (P <= K) {
        // The P x P Gram matrix X X^T = U diag(s^2) U^T; v = X^T u / s.
        const Eigen::MatrixXd gram = X * X.transpose();
        const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(gram);
        const double lambda = eig.eigenvalues()(P - 1);
        if (!(lambda > 0.0)) {
            std::fill_n(out, P, 0.0f);
            return;
        }
        v = X.transpose() * eig.eigenvectors().col(P - 1) / std::sqrt(lambda);
    } else {
        const Eigen::MatrixXd cov = X.transpose() * X; // K x K
        const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
        if (!(eig.eigenvalues()(K - 1) > 0.0)) {
            std::fill_n(out, P, 0.0f);
            return;
        }
        v = eig.eigenvectors().col(K - 1);
    }
    if (v.sum() < 0.0) v = -v;
    const Eigen::VectorXd projection = X * v;
    for (std::int64_t p = 0; p < P; ++p) out[p] = static_cast<float>(projection(p));
}

} // namespace dualgrad::detail
