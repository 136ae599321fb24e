# Regenerates the goldens of the decision engines (openhsct.decision) in tests/decision/goldens/.
#
# Run from the repository root:   Rscript reference/r/decision_goldens.R
#
# Needs R >= 4.2 with jsonlite. Base R only for the statistics, written from the definitions:
#   markov_cohort.json  random time-varying Markov models and their cohort totals (heemod/hesim
#                       conventions: m[t+1] = m[t] %*% P_t; left / right / trapezoid quadrature of annual
#                       reward rates, discount (1+r)^-(t L))
#   psa_summaries.json  a random PSA table with its CEAC (ties split), expected-NMB frontier (CEAF) and EVPI
#   fits.json           dampack's beta_params, gamma_params and lnorm_params (as in dampack 1.0's
#                       R/distributions.R) on a grid of means and SDs
suppressPackageStartupMessages(library(jsonlite))

out_dir <- file.path("tests", "decision", "goldens")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
put <- function(x, file) write_json(x, file.path(out_dir, file), digits = NA, auto_unbox = TRUE, pretty = FALSE)

set.seed(20261130)

cohort_total <- function(P, v, start, cycles, r, L, method) {
  m <- matrix(0, cycles + 1, length(start))
  m[1, ] <- start
  for (t in seq_len(cycles)) m[t + 1, ] <- m[t, ] %*% P[t, , ]
  x <- (1 + r)^(-(0:cycles) * L) * as.vector(m %*% v)
  if (method == "left") return(L * sum(x[1:cycles]))
  if (method == "right") return(L * sum(x[2:(cycles + 1)]))
  L * sum((x[1:cycles] + x[2:(cycles + 1)]) / 2)
}

cases <- list()
for (k in 1:12) {
  S <- sample(2:6, 1)
  cycles <- sample(1:30, 1)
  P <- array(runif(cycles * S * S), c(cycles, S, S))
  for (t in 1:cycles) P[t, , ] <- P[t, , ] / rowSums(P[t, , ])
  start <- runif(S); start <- start / sum(start)
  costs <- runif(S) * 1000; utilities <- runif(S)
  r <- runif(2, 0, 0.08); L <- sample(c(0.25, 0.5, 1), 1)
  method <- c("left", "right", "trapezoid")[(k %% 3) + 1]
  cases[[k]] <- list(P = lapply(1:cycles, function(t) P[t, , ]), start = start, costs = costs,
                     utilities = utilities, cycles = cycles, r_cost = r[1], r_qaly = r[2],
                     cycle_length = L, method = method,
                     cost = cohort_total(P, costs, start, cycles, r[1], L, method),
                     qaly = cohort_total(P, utilities, start, cycles, r[2], L, method))
}
put(cases, "markov_cohort.json")

n <- 200; strategies <- c("A", "B", "C")
psa <- data.frame(sample = rep(0:(n - 1), each = 3), strategy = rep(strategies, n),
                  cost = round(rnorm(3 * n, rep(c(1000, 3000, 6000), n), 800)),
                  qaly = round(rnorm(3 * n, rep(c(5, 5.2, 5.3), n), 0.2), 2))
wtp <- c(0, 5000, 10000, 20000, 40000, 100000)
cost <- matrix(psa$cost, n, 3, byrow = TRUE); qaly <- matrix(psa$qaly, n, 3, byrow = TRUE)
ceac <- list(); ceaf <- list(); evpi <- c()
for (w in wtp) {
  nmb <- w * qaly - cost
  best <- nmb == apply(nmb, 1, max)
  share <- colMeans(best / rowSums(best))
  ceac[[length(ceac) + 1]] <- as.list(setNames(share, strategies))
  j <- which.max(colMeans(nmb))
  ceaf[[length(ceaf) + 1]] <- list(wtp = w, strategy = strategies[j], probability = share[[j]])
  evpi <- c(evpi, mean(apply(nmb, 1, max)) - max(colMeans(nmb)))
}
put(list(psa = psa, wtp = wtp, ceac = ceac, ceaf = ceaf, evpi = evpi), "psa_summaries.json")

# dampack 1.0, R/distributions.R
beta_params <- function(mean, sigma) {
  alpha <- ((1 - mean) / sigma^2 - 1 / mean) * mean^2
  list(alpha = alpha, beta = alpha * (1 / mean - 1))
}
gamma_params <- function(mu, sigma) list(shape = mu^2 / sigma^2, scale = sigma^2 / mu)
lnorm_params <- function(m, v) {
  mu <- log(m^2 / sqrt(v + m^2)); sigma <- sqrt(log(1 + v / m^2))
  list(mu = mu, sigma = sigma)
}
fits <- list()
for (m in c(0.02, 0.3, 0.7)) for (s in c(0.005, 0.05)) {
  b <- beta_params(m, s)
  fits[[length(fits) + 1]] <- list(kind = "beta", a = m, b = s, p1 = b$alpha, p2 = b$beta)
}
for (m in c(503, 66304)) for (s in c(50, 2000)) {
  g <- gamma_params(m, s)
  fits[[length(fits) + 1]] <- list(kind = "gamma", a = m, b = s, p1 = g$shape, p2 = g$scale)
}
for (m in c(0.07, 0.36, 2.5)) for (v in c(0.001, 0.2)) {
  l <- lnorm_params(m, v)
  fits[[length(fits) + 1]] <- list(kind = "lnorm", a = m, b = v, p1 = l$mu, p2 = l$sigma)
}
put(fits, "fits.json")
