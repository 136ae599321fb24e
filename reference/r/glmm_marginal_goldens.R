# Reference values for the population-averaged (marginal) proportion of the binomial-normal model,
# openhsct.evidence.glmm.marginal_proportion, and for the binomial-normal meta-regression.
#
# Run from the repository root:   Rscript reference/r/glmm_marginal_goldens.R
# Writes tests/evidence/goldens/glmm_marginal_goldens.json. Needs: metafor (>= 3.8), lme4, jsonlite.
#
# For each data set the model x_i ~ Binomial(n_i, plogis(X_i beta + b_i)), b_i ~ N(0, tau^2) is fitted
# by lme4::glmer (nAGQ = 7, run to a tight optimum; metafor's rma.glmm(measure = "PLO") is the same fit
# and is stored beside it). Then:
#   marginal     = integral of plogis(eta + tau z) dnorm(z) dz           (stats::integrate)
#   gradient     = (integral of p(1 - p) dnorm(z) dz * x, integral of z p(1 - p) dnorm(z) dz)
#   vcov         = inverse of half the Hessian of glmer's deviance function in (theta = tau, beta)
#                  (stats::optimHess on update(fit, devFunOnly = TRUE))
#   CI           = plogis(qlogis(m) -/+ z sqrt(g' V g) / (m (1 - m)))     (delta method on the logit)
# The crude pooled rate is binom.test's exact (Clopper-Pearson) interval.

suppressMessages({
  library(metafor)
  library(lme4)
  library(jsonlite)
})

out_dir <- "tests/evidence/goldens"
data_dir <- "src/openhsct/evidence/data"

tight_glmer <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5),
                            tolPwrss = 1e-12, check.conv.grad = .makeCC("ignore", tol = 1e-3))
tight_rma <- list(glmerCtrl = list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5),
                                   tolPwrss = 1e-12, check.conv.grad = .makeCC("ignore", tol = 1e-3)))

expect_z <- function(f) integrate(function(z) f(z) * dnorm(z), -Inf, Inf, rel.tol = 1e-12,
                                  abs.tol = 1e-15, subdivisions = 500L)$value

marginal <- function(eta, tau, xrow, V, level = 95) {
  m <- expect_z(function(z) plogis(eta + tau * z))
  d_eta <- expect_z(function(z) plogis(eta + tau * z) * plogis(-(eta + tau * z)))
  d_tau <- expect_z(function(z) z * plogis(eta + tau * z) * plogis(-(eta + tau * z)))
  g <- c(xrow * d_eta, d_tau)
  se_logit <- sqrt(max(as.numeric(t(g) %*% V %*% g), 0)) / (m * (1 - m))
  zc <- qnorm(1 - (1 - level / 100) / 2)
  list(estimate = m, lower = plogis(qlogis(m) - zc * se_logit), upper = plogis(qlogis(m) + zc * se_logit),
       conditional = plogis(eta), d_eta = d_eta, d_tau = d_tau)
}

fit_case <- function(xi, ni, mods = NULL, at = NULL) {
  d <- data.frame(xi = xi, ni = ni, study = factor(seq_along(xi)))
  if (is.null(mods)) {
    form <- cbind(xi, ni - xi) ~ 1 + (1 | study)
  } else {
    d$decade <- mods
    form <- cbind(xi, ni - xi) ~ decade + (1 | study)
  }
  fit <- suppressWarnings(glmer(form, data = d, family = binomial, nAGQ = 7, control = tight_glmer))
  beta <- as.numeric(fixef(fit))
  tau <- as.numeric(getME(fit, "theta"))
  p <- length(beta)
  devfun <- suppressWarnings(update(fit, devFunOnly = TRUE))
  H <- optimHess(c(tau, beta), function(par) devfun(par)) / 2   # Hessian of -log L in (tau, beta)
  ord <- c(2:(p + 1), 1)                                         # reorder to (beta..., tau)
  H <- H[ord, ord]
  if (tau >= 1e-6 && all(eigen(H, only.values = TRUE)$values > 0)) {
    V <- solve(H)
  } else {
    V <- matrix(0, p + 1, p + 1)
    V[1:p, 1:p] <- solve(H[1:p, 1:p])
  }
  out <- list(xi = xi, ni = ni, coef = beta, tau = tau, tau2 = tau^2, vcov = V,
              se = sqrt(diag(V)[1:p]), loglik_glmer = as.numeric(logLik(fit)))
  rm <- if (is.null(mods)) {
    suppressWarnings(rma.glmm(measure = "PLO", xi = xi, ni = ni, nAGQ = 7, control = tight_rma))
  } else {
    suppressWarnings(rma.glmm(measure = "PLO", xi = xi, ni = ni, mods = ~ mods, nAGQ = 7,
                              control = tight_rma))
  }
  out$metafor <- list(coef = as.numeric(rm$beta), se = as.numeric(rm$se), tau2 = rm$tau2,
                      QM = rm$QM, QMp = rm$QMp)
  if (is.null(mods)) {
    out$marginal <- marginal(beta, tau, 1, V)
    bt <- binom.test(sum(xi), sum(ni))
    out$crude <- list(estimate = sum(xi) / sum(ni), lower = bt$conf.int[1], upper = bt$conf.int[2])
  } else {
    out$mods <- mods
    out$at <- at
    out$marginal_at <- lapply(at, function(a) marginal(sum(c(1, a) * beta), tau, c(1, a), V))
  }
  out
}

cohorts <- read.csv(file.path(data_dir, "cohorts.csv"), stringsAsFactors = FALSE)
pooling <- read.csv(file.path(data_dir, "pooling.csv"), stringsAsFactors = FALSE)
trm <- pooling[pooling$outcome == "trm", ]
rows <- cohorts[match(trm$key, cohorts$key), ]
trm$events <- as.numeric(rows$trm_deaths)
trm$ascertainment <- rows$death_ascertainment
trm$overlap <- rows$overlap_group
trm$row_type <- rows$row_type
trm$year <- as.numeric(rows$year)
main <- trm[trm$pooled == "yes", ]

# largest report per overlap group: by decreasing n (then key), never two rows sharing a label
cand <- trm[trm$row_type == "study", ]
cand <- cand[order(-cand$n_used, cand$key), ]
taken <- character(0)
used_labels <- character(0)
for (i in seq_len(nrow(cand))) {
  labs <- trimws(strsplit(ifelse(is.na(cand$overlap[i]), "", cand$overlap[i]), ";")[[1]])
  labs <- labs[labs != ""]
  if (length(intersect(labs, used_labels)) > 0) next
  taken <- c(taken, cand$key[i])
  used_labels <- c(used_labels, labs)
}
largest <- cand[cand$key %in% taken, ]

limited <- c("limited (e.g. short follow-up, self-report)", "unknown")
trusted <- main[!(main$ascertainment %in% limited), ]
dated <- main[!is.na(main$year), ]

pz <- dat.pritz1997
goldens <- list(
  versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                  lme4 = as.character(packageVersion("lme4"))),
  pritz1997 = fit_case(pz$xi, pz$ni),
  small = fit_case(c(2, 7, 1, 0, 12), c(40, 60, 30, 25, 80)),
  trm_main = c(list(key = main$key), fit_case(main$events, main$n_used)),
  trm_ascertainment = c(list(key = trusted$key), fit_case(trusted$events, trusted$n_used)),
  trm_largest_per_group = c(list(key = largest$key), fit_case(largest$events, largest$n_used)),
  trm_era = c(list(key = dated$key, year = dated$year),
              fit_case(dated$events, dated$n_used, mods = (dated$year - 2020) / 10,
                       at = (range(dated$year) - 2020) / 10))
)
write_json(goldens, file.path(out_dir, "glmm_marginal_goldens.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE)
cat("wrote", file.path(out_dir, "glmm_marginal_goldens.json"), "\n")
