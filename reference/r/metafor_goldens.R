# Reference values for openhsct.evidence, computed with metafor (and lme4 for rma.glmm).
#
# Run from the repository root:   Rscript reference/r/metafor_goldens.R
# Writes tests/evidence/goldens/*.csv and metafor_goldens.json. The Python tests read only these files.
# Needs: metafor (>= 3.8), lme4, jsonlite.

suppressMessages({
  library(metafor)
  library(jsonlite)
})

out_dir <- "tests/evidence/goldens"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
data_dir <- "src/openhsct/evidence/data"

fit_summary <- function(res, transf = NULL, targs = NULL) {
  pr <- if (is.null(transf)) predict(res) else predict(res, transf = transf, targs = targs)
  out <- list(
    coef = as.numeric(res$beta), coef_names = rownames(res$beta), se = as.numeric(res$se),
    zval = as.numeric(res$zval), pval = as.numeric(res$pval),
    ci_lb = as.numeric(res$ci.lb), ci_ub = as.numeric(res$ci.ub),
    tau2 = res$tau2, I2 = res$I2, H2 = res$H2, QE = res$QE, QEp = res$QEp,
    QM = res$QM, QMp = res$QMp, k = res$k, p = res$p, method = res$method, test = res$test
  )
  if (!is.null(res$R2)) out$R2 <- res$R2
  if (res$p == 1) {
    out$pred <- as.numeric(pr$pred)
    out$pred_ci_lb <- as.numeric(pr$ci.lb)
    out$pred_ci_ub <- as.numeric(pr$ci.ub)
    out$pi_lb <- as.numeric(pr$pi.lb)
    out$pi_ub <- as.numeric(pr$pi.ub)
  }
  out
}

goldens <- list(
  versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                  lme4 = as.character(packageVersion("lme4")))
)

# --- dat.bcg: log risk ratios ---------------------------------------------------------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
write.csv(data.frame(trial = bcg$trial, author = bcg$author, year = bcg$year, tpos = bcg$tpos,
                     tneg = bcg$tneg, cpos = bcg$cpos, cneg = bcg$cneg, ablat = bcg$ablat,
                     yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi)),
          file.path(out_dir, "dat_bcg.csv"), row.names = FALSE)
or_bcg <- escalc(measure = "OR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
goldens$bcg_or <- list(yi = as.numeric(or_bcg$yi), vi = as.numeric(or_bcg$vi))

goldens$bcg <- list()
goldens$bcg_mods <- list()
for (m in c("DL", "REML", "PM", "FE")) {
  for (tt in c("z", "knha")) {
    if (m == "FE" && tt == "knha") next
    key <- paste(m, tt, sep = "_")
    goldens$bcg[[key]] <- fit_summary(rma(yi, vi, data = bcg, method = m, test = tt))
    goldens$bcg_mods[[key]] <- fit_summary(rma(yi, vi, mods = ~ ablat + year, data = bcg, method = m,
                                               test = tt))
  }
}
pr_new <- predict(rma(yi, vi, mods = ~ ablat + year, data = bcg, method = "REML", test = "knha"),
                  newmods = cbind(c(10, 30, 50), c(1950, 1960, 1970)))
goldens$bcg_mods_predict <- list(ablat = c(10, 30, 50), year = c(1950, 1960, 1970),
                                 pred = as.numeric(pr_new$pred), ci_lb = as.numeric(pr_new$ci.lb),
                                 ci_ub = as.numeric(pr_new$ci.ub), pi_lb = as.numeric(pr_new$pi.lb),
                                 pi_ub = as.numeric(pr_new$pi.ub))

goldens$regtest <- list()
for (m in c("REML", "DL")) {
  for (tt in c("z", "knha")) {
    rt <- regtest(rma(yi, vi, data = bcg, method = m, test = tt))
    goldens$regtest[[paste(m, tt, sep = "_")]] <- list(zval = rt$zval, pval = rt$pval,
      est = as.numeric(rt$est), ci_lb = as.numeric(rt$ci.lb), ci_ub = as.numeric(rt$ci.ub))
  }
}

# --- 2x2 tables with zero cells (escalc's add = 1/2, to = "only0") ------------------------------------
zt <- data.frame(ai = c(0, 3, 5, 10, 0), bi = c(20, 17, 15, 0, 12), ci = c(2, 0, 4, 6, 0),
                 di = c(18, 20, 16, 14, 11))
goldens$zero_cells <- list(ai = zt$ai, bi = zt$bi, ci = zt$ci, di = zt$di)
for (ms in c("RR", "OR")) {
  es <- escalc(measure = ms, ai = ai, bi = bi, ci = ci, di = di, data = zt)
  goldens$zero_cells[[ms]] <- list(yi = as.numeric(es$yi), vi = as.numeric(es$vi))
}

# --- random data sets (agreement on many cases) --------------------------------------------------------
set.seed(20261125)
rand_rows <- list()
goldens$random <- list()
for (s in 1:8) {
  k <- c(3, 5, 8, 12, 20, 40, 120, 300)[s]
  tau2_true <- c(0, 0.02, 0.1, 0.5, 0, 0.3, 0.05, 1)[s]
  vi <- runif(k, 0.005, 0.5)
  x1 <- rnorm(k)
  yi <- 0.3 + 0.2 * x1 + rnorm(k, 0, sqrt(vi + tau2_true))
  rand_rows[[s]] <- data.frame(set = s, yi = yi, vi = vi, x1 = x1)
  g <- list()
  for (m in c("DL", "REML", "PM")) {
    for (tt in c("z", "knha")) {
      r0 <- rma(yi, vi, method = m, test = tt)
      g[[paste(m, tt, sep = "_")]] <- fit_summary(r0)
      if (k >= 5) {
        r1 <- rma(yi, vi, mods = ~ x1, method = m, test = tt)
        g[[paste(m, tt, "mods", sep = "_")]] <- fit_summary(r1)
      }
    }
  }
  goldens$random[[as.character(s)]] <- g
}
write.csv(do.call(rbind, rand_rows), file.path(out_dir, "random_sets.csv"), row.names = FALSE)

# lme4's default optimiser for glmer stops at an absolute deviance tolerance of 1e-5, so metafor's
# default rma.glmm fit is only accurate to about 1e-5 in the coefficients; a "tight" fit (bobyqa with a
# tiny trust radius) is stored as well, to check the likelihood itself.
tight <- list(glmerCtrl = list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5),
                               tolPwrss = 1e-12, check.conv.grad = lme4::.makeCC("ignore", tol = 1e-3)))
glmm_summary <- function(gl) {
  pg <- predict(gl)
  list(coef = as.numeric(gl$beta), se = as.numeric(gl$se), ci_lb = as.numeric(gl$ci.lb),
       ci_ub = as.numeric(gl$ci.ub), tau2 = gl$tau2, I2 = gl$I2, H2 = gl$H2, QE_LRT = gl$QE.LRT,
       QEp_LRT = gl$QEp.LRT, pi_lb = as.numeric(pg$pi.lb), pi_ub = as.numeric(pg$pi.ub))
}

# --- aHSCT proportions from the shipped data and its pooling decisions ---------------------------------
cohorts <- read.csv(file.path(data_dir, "cohorts.csv"), stringsAsFactors = FALSE)
pooling <- read.csv(file.path(data_dir, "pooling.csv"), stringsAsFactors = FALSE)
value_col <- c(trm = "trm_deaths", pfs_2y = "pfs_2y", pfs_5y = "pfs_5y", neda_2y = "neda_2y",
               neda_5y = "neda_5y", rfs_5y = "relapse_free_5y")
outcome_data <- function(outcome) {
  sel <- pooling[pooling$outcome == outcome & pooling$pooled == "yes", ]
  rows <- cohorts[match(sel$key, cohorts$key), ]
  v <- as.numeric(rows[[value_col[[outcome]]]])
  ni <- as.numeric(sel$n_used)
  # counts are used as they are; percentages become effective event counts p * n / 100
  xi <- if (outcome == "trm") v else v * ni / 100
  data.frame(key = sel$key, xi = xi, ni = ni)
}
goldens$ahsct <- list()
for (oc in c("trm", "pfs_5y", "neda_5y", "rfs_5y")) {
  d <- outcome_data(oc)
  g <- list(key = d$key, xi = d$xi, ni = d$ni)
  for (m in c("DL", "REML", "PM")) {
    for (tt in c("z", "knha")) {
      plo <- escalc(measure = "PLO", xi = xi, ni = ni, data = d)
      pft <- escalc(measure = "PFT", xi = xi, ni = ni, data = d)
      g[[paste("PLO", m, tt, sep = "_")]] <- c(fit_summary(rma(yi, vi, data = plo, method = m, test = tt),
                                                           transf = transf.ilogit),
                                               list(yi = as.numeric(plo$yi), vi = as.numeric(plo$vi)))
      g[[paste("PFT", m, tt, sep = "_")]] <- c(fit_summary(rma(yi, vi, data = pft, method = m, test = tt),
                                                           transf = transf.ipft.hm, targs = list(ni = d$ni)),
                                               list(yi = as.numeric(pft$yi), vi = as.numeric(pft$vi)))
    }
  }
  for (q in c(7, 1)) {
    g[[paste0("GLMM_nAGQ", q)]] <- glmm_summary(suppressWarnings(
      rma.glmm(measure = "PLO", xi = xi, ni = ni, data = d, nAGQ = q)))
    fit <- try(suppressWarnings(rma.glmm(measure = "PLO", xi = xi, ni = ni, data = d, nAGQ = q,
                                         control = tight)), silent = TRUE)
    if (!inherits(fit, "try-error")) g[[paste0("GLMM_tight_nAGQ", q)]] <- glmm_summary(fit)
  }
  goldens$ahsct[[oc]] <- g
}

# --- GLMM on a heterogeneous published data set (metadat::dat.pritz1997) -------------------------------
pz <- dat.pritz1997
goldens$pritz1997 <- list(xi = pz$xi, ni = pz$ni)
for (q in c(7, 1)) {
  goldens$pritz1997[[paste0("GLMM_nAGQ", q)]] <- glmm_summary(
    rma.glmm(measure = "PLO", xi = xi, ni = ni, data = pz, nAGQ = q))
  goldens$pritz1997[[paste0("GLMM_tight_nAGQ", q)]] <- glmm_summary(
    rma.glmm(measure = "PLO", xi = xi, ni = ni, data = pz, nAGQ = q, control = tight))
}

write_json(goldens, file.path(out_dir, "metafor_goldens.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE)
cat("wrote", file.path(out_dir, "metafor_goldens.json"), "\n")
