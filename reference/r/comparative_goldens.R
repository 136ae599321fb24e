# Reference outputs for openhsct.comparative: propensity scores (glm), matched sets (MatchIt 4.5),
# balance (MatchIt summary()), Cox on matched data with robust SE clustered on the matched set
# (survival::coxph), IPTW Cox (survey::svycoxph) and the negative binomial relapse-rate ratio
# (MASS::glm.nb) with a cluster-robust sandwich SE.
#
# Run from the repository root: Rscript reference/r/comparative_goldens.R
# Needs Debian's r-cran-matchit, r-cran-survival, r-cran-survey, r-cran-mass, r-cran-jsonlite.
# Input: tests/comparative/goldens/comparison.csv (written by openhsct.comparative.simulate, seed in
# tests/comparative/goldens/README.md). Output: tests/comparative/goldens/comparative_goldens.json.
suppressPackageStartupMessages({
  library(MatchIt); library(survival); library(survey); library(MASS); library(jsonlite)
})

dir <- "tests/comparative/goldens"
d <- read.csv(file.path(dir, "comparison.csv"), stringsAsFactors = FALSE)
f <- treat ~ age + female + disease_duration_y + edss + relapses_12m + relapses_24m +
  prior_dmt_count + gd_lesions + phenotype + country

# CR0 sandwich for the treatment coefficient of a glm.nb fit, clustered on `cluster`.
nb_robust <- function(fit, w, cluster) {
  X <- model.matrix(fit); mu <- fitted(fit); y <- fit$y; th <- fit$theta
  bread <- solve(t(X) %*% (X * (w * mu / (1 + mu / th))))
  U <- X * (w * (y - mu) / (1 + mu / th))
  Uc <- rowsum(U, cluster)
  V <- bread %*% crossprod(Uc) %*% bread
  list(coef = unname(coef(fit)["treat"]), se = sqrt(V[2, 2]), theta = th)
}

cox_list <- function(fit) list(coef = unname(coef(fit)), se = unname(sqrt(diag(fit$var))),
                               se_naive = unname(sqrt(diag(fit$naive.var))))

# MatchIt 4.5.1-4.5.3 compare distances with C's integer abs() in nn_matchC_vec, so a caliper on a
# propensity score (|difference| < 1) is never applied and the left neighbour always wins (MatchIt
# issue #163, github.com/kosukeimai/MatchIt/issues/163). Matching on the same distance times 1e8 makes
# the truncation immaterial (only differences below 1e-8 are affected), so this reproduces what
# nearest-neighbour matching with a 0.1 SD caliper does in MatchIt versions without that bug.
SCALE <- 1e8
one_match <- function(ratio, link) {
  m0 <- matchit(f, data = d, method = "nearest", distance = "glm", link = link,
                caliper = 0.1, ratio = ratio)
  m <- matchit(f, data = d, method = "nearest", distance = unname(m0$distance) * SCALE,
               caliper = 0.1, ratio = ratio)
  s <- summary(m)
  bal <- function(tab) lapply(split(as.data.frame(tab[, c("Means Treated", "Means Control",
    "Std. Mean Diff.", "Var. Ratio")]), seq_len(nrow(tab))), as.list)
  sub <- as.integer(as.character(m$subclass)); sub[is.na(sub)] <- 0L
  md <- match.data(m)
  md$subclass <- as.integer(as.character(md$subclass))
  cx <- coxph(Surv(time, event) ~ treat, data = md, weights = weights, cluster = subclass)
  pw_time <- ave(md$time, md$subclass, FUN = min)
  pw_event <- as.integer(md$event == 1 & md$time <= pw_time)
  cx_pw <- coxph(Surv(pw_time, pw_event) ~ treat, data = md, weights = weights, cluster = subclass)
  nb <- glm.nb(relapses ~ treat + offset(log(fu_years)), data = md, weights = weights,
               control = glm.control(epsilon = 1e-12, maxit = 100))
  list(
    ratio = ratio, link = link,
    caliper = unname(m$caliper) / SCALE,
    distance = unname(m0$distance),
    subclass_unscaled = {u <- as.integer(as.character(m0$subclass)); u[is.na(u)] <- 0L; u},
    weights_unscaled = unname(m0$weights),
    subclass = sub,
    weights = unname(m$weights),
    balance_rows = rownames(s$sum.all),
    balance_all = bal(s$sum.all),
    balance_matched = bal(s$sum.matched),
    cox = cox_list(cx),
    cox_pairwise = cox_list(cx_pw),
    nb = nb_robust(nb, md$weights, md$subclass)
  )
}

ps_fit <- glm(f, data = d, family = binomial())
ps <- unname(fitted(ps_fit))
p1 <- mean(d$treat)
w_ate <- ifelse(d$treat == 1, p1 / ps, (1 - p1) / (1 - ps))
w_att <- ifelse(d$treat == 1, 1, ps / (1 - ps) * (1 - p1) / p1)
svy <- function(w) {
  dd <- d; dd$w <- w
  des <- svydesign(ids = ~1, weights = ~w, data = dd)
  fit <- svycoxph(Surv(time, event) ~ treat, design = des)
  list(coef = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))))
}

out <- list(
  versions = list(R = R.version.string, MatchIt = as.character(packageVersion("MatchIt")),
                  survival = as.character(packageVersion("survival")),
                  survey = as.character(packageVersion("survey")),
                  MASS = as.character(packageVersion("MASS"))),
  glm = list(coef = as.list(coef(ps_fit)), ps = ps),
  matches = list(one_match(1, "logit"), one_match(2, "logit"),
                 one_match(1, "linear.logit"), one_match(3, "linear.logit")),
  iptw = list(ate = c(svy(w_ate), list(weights = w_ate)), att = c(svy(w_att), list(weights = w_att)))
)
write_json(out, file.path(dir, "comparative_goldens.json"), digits = NA, auto_unbox = TRUE, pretty = FALSE)
cat("wrote", file.path(dir, "comparative_goldens.json"), "\n")
