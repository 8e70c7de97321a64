# Nightly runs of the Dataflow Flex Template (template.mk) by Cloud
# Scheduler, included by the main Makefile after template.mk (run from the
# module root). See "Run it every night" in templates/dataflow/README.md.
# Every target needs gcloud and a Google Cloud project: tests run them with
# a stand-in gcloud.
#
#   make schedule-service-account PROJECT=my-project REGION=europe-west1 BUCKET=my-bucket \
#        SCHEDULE_PARAMS='input=gs://my-bucket/in/*.csv~time_field=time~output=gs://my-bucket/out/neighbors.jsonl'
#   make schedule-dataflow        (same variables; creates the job, or updates it)
#   make schedule-run | schedule-pause | schedule-resume | schedule-delete PROJECT=my-project REGION=europe-west1
#
# PIPELINE=als schedules the ALS template instead (template.mk's PIPELINE):
# its spec, and its own Cloud Scheduler job and account, als-nightly.
#
# SCHEDULE_PARAMS are pipeline parameters name=value separated by ~, as
# TEMPLATE_PARAMS; window=$(SCHEDULE_WINDOW) is added to them, so that each
# run reads the events of the window ending at its own UTC midnight.

# Stand-alone (make -f templates/dataflow/schedule.mk) it needs template.mk's
# PIPELINE, TEMPLATE_SPEC, TEMPLATE_REPO, template-require and
# template-pipeline.
ifndef template-require
include templates/dataflow/template.mk
endif

# Cloud Scheduler job, and the name of the Dataflow job it launches: Dataflow
# keeps one active job per name in a region, so a launch while the previous
# night still runs starts no second job.
SCHEDULE_JOB       ?= $(PIPELINE)-nightly
SCHEDULE           ?= 0 2 * * *
SCHEDULE_TZ        ?= Etc/UTC
SCHEDULE_LOCATION  ?= $(REGION)
SCHEDULE_WINDOW    ?= 720h
SCHEDULE_PARAMS    ?=
# Who calls flexTemplates:launch (an account of PROJECT, as Cloud Scheduler
# requires), and who the launcher and workers run as (default: the same).
SCHEDULE_SA        ?= $(PIPELINE)-nightly@$(PROJECT).iam.gserviceaccount.com
SCHEDULE_WORKER_SA ?= $(SCHEDULE_SA)
# Retries of a failed launch request.
SCHEDULE_RETRIES   ?= 3

schedule-empty :=
schedule-space := $(schedule-empty) $(schedule-empty)
schedule-comma := ,
# Stands for a space inside a value while the parameters are make words.
schedule-sp    := ^SCHEDULE-SPACE^

# The parameters as make words name=value: the window, then SCHEDULE_PARAMS.
schedule-user  = $(subst ~, ,$(subst $(schedule-space),$(schedule-sp),$(SCHEDULE_PARAMS)))
schedule-words = $(if $(SCHEDULE_WINDOW),window=$(SCHEDULE_WINDOW)) $(schedule-user)
schedule-name  = $(firstword $(subst =, ,$(1)))
schedule-names = $(foreach w,$(schedule-words),$(call schedule-name,$(w)))
# $(call schedule-param,NAME) is NAME's value in SCHEDULE_PARAMS.
schedule-param = $(subst $(schedule-sp),$(schedule-space),$(patsubst $(1)=%,%,$(firstword $(filter $(1)=%,$(schedule-user)))))

# $(call schedule-json,TEXT) is TEXT as a JSON string.
schedule-json  = "$(subst ",\",$(subst \,\\,$(1)))"
# $(call schedule-quote,TEXT) is TEXT as one single-quoted shell word.
schedule-quote = '$(subst ','\'',$(1))'

# $(call schedule-pair,WORD) is "name":"value" of a word name=value.
schedule-pair  = $(call schedule-json,$(call schedule-name,$(1))):$(call schedule-json,$(patsubst $(call schedule-name,$(1))=%,%,$(1)))
schedule-pairs = $(subst $(schedule-space),$(schedule-comma),$(strip $(foreach w,$(schedule-words),$(call schedule-pair,$(w)))))
schedule-parameters = {$(subst $(schedule-sp),$(schedule-space),$(schedule-pairs))}
# The flexTemplates:launch request: the template spec template-build
# writes, staging and temp locations as template-run's.
schedule-body = {"launchParameter":{"jobName":$(call schedule-json,$(SCHEDULE_JOB)),"containerSpecGcsPath":$(call schedule-json,$(TEMPLATE_SPEC)),"parameters":$(schedule-parameters),"environment":{"tempLocation":"gs://$(BUCKET)/temp","stagingLocation":"gs://$(BUCKET)/staging","serviceAccountEmail":$(call schedule-json,$(SCHEDULE_WORKER_SA))}}}

# SCHEDULE_PARAMS must give the output and the events' time field, and may
# not give the window twice: a mistake here would otherwise fail at 02:00.
schedule-check-params = $(strip \
	$(call template-require,SCHEDULE_PARAMS,pipeline parameters name=value separated by ~ (input=gs://...~output=gs://...)) \
	$(if $(strip $(foreach w,$(schedule-user),$(if $(findstring =,$(w)),,$(w)))),$(error SCHEDULE_PARAMS: every parameter is name=value, separated by ~)) \
	$(if $(filter =%,$(schedule-user)),$(error SCHEDULE_PARAMS: a parameter has no name)) \
	$(if $(filter-out $(words $(sort $(schedule-names))),$(words $(schedule-names))),$(error SCHEDULE_PARAMS names a parameter twice, or window (set SCHEDULE_WINDOW instead))) \
	$(if $(filter output=%,$(schedule-user)),,$(error SCHEDULE_PARAMS needs output=gs://BUCKET/PATH: where the item neighbour lists go)) \
	$(if $(SCHEDULE_WINDOW),$(if $(filter since=%,$(schedule-user)),$(error SCHEDULE_PARAMS sets since and SCHEDULE_WINDOW=$(SCHEDULE_WINDOW) the window's start: give one (SCHEDULE_WINDOW= for since/until)))) \
	$(if $(SCHEDULE_WINDOW)$(filter since=% until=%,$(schedule-user)),$(if $(filter time_field=%,$(schedule-user)),,$(error SCHEDULE_PARAMS needs time_field=COLUMN: the window keeps events by their time))))

schedule-where = --project=$(PROJECT) --location=$(SCHEDULE_LOCATION)
schedule-http  = --schedule=$(call schedule-quote,$(SCHEDULE)) --time-zone=$(call schedule-quote,$(SCHEDULE_TZ)) \
	--description=$(call schedule-quote,Nightly pipelines/$(PIPELINE) Flex Template launch (templates/dataflow/schedule.mk)) \
	--uri=https://dataflow.googleapis.com/v1b3/projects/$(PROJECT)/locations/$(REGION)/flexTemplates:launch \
	--http-method=POST --oauth-service-account-email=$(SCHEDULE_SA) \
	--oauth-token-scope=https://www.googleapis.com/auth/cloud-platform \
	--max-retry-attempts=$(SCHEDULE_RETRIES) --message-body=$(call schedule-quote,$(schedule-body))

# $(call schedule-create-sa,EMAIL) creates an account of PROJECT unless it
# exists; an account of another project (the Compute Engine default one) is
# used as it is.
schedule-create-sa = $(if $(filter %@$(PROJECT).iam.gserviceaccount.com,$(1)),gcloud iam service-accounts describe $(1) --project=$(PROJECT) >/dev/null 2>&1 || \
	gcloud iam service-accounts create $(firstword $(subst @, ,$(1))) --project=$(PROJECT) --display-name='Nightly pipelines/$(PIPELINE)')
# $(call schedule-grant,PROJECT,EMAIL,ROLE) grants ROLE on a project.
schedule-grant = gcloud projects add-iam-policy-binding $(1) --member=serviceAccount:$(2) --role=$(3) --condition=None --format=none
# BigQuery input: a table (bq://) or a query; its jobs and read sessions
# are billed to bq_project, else PROJECT.
schedule-bigquery = $(filter input=bq://% input_query=%,$(schedule-user))
schedule-bq-project = $(or $(call schedule-param,bq_project),$(PROJECT))

.PHONY: schedule-dataflow schedule-service-account schedule-run schedule-pause schedule-resume schedule-delete

## schedule-dataflow: create, or update, the Cloud Scheduler job that launches the template every night.
schedule-dataflow:
	$(template-pipeline)
	$(call template-require,PROJECT,the Google Cloud project (PROJECT=my-project))
	$(call template-require,REGION,the Dataflow region (REGION=europe-west1))
	$(call template-require,BUCKET,the bucket of the template spec and staging (BUCKET=my-bucket))
	$(call template-require,SCHEDULE_LOCATION,the Cloud Scheduler location (SCHEDULE_LOCATION=europe-west1))
	$(schedule-check-params)
	if gcloud scheduler jobs describe $(SCHEDULE_JOB) $(schedule-where) >/dev/null 2>&1; then \
		gcloud scheduler jobs update http $(SCHEDULE_JOB) $(schedule-where) $(schedule-http) \
			--update-headers=Content-Type=application/json; \
	else \
		gcloud scheduler jobs create http $(SCHEDULE_JOB) $(schedule-where) $(schedule-http) \
			--headers=Content-Type=application/json; \
	fi

## schedule-service-account: create SCHEDULE_SA (and SCHEDULE_WORKER_SA) if absent and grant the roles the nightly run needs.
schedule-service-account:
	$(template-pipeline)
	$(call template-require,PROJECT,the Google Cloud project (PROJECT=my-project))
	$(call template-require,REGION,the Artifact Registry region of the template image (REGION=europe-west1))
	$(call template-require,BUCKET,the bucket of the template spec and staging (BUCKET=my-bucket))
	$(schedule-check-params)
	$(call schedule-create-sa,$(SCHEDULE_SA))
	$(if $(filter-out $(SCHEDULE_SA),$(SCHEDULE_WORKER_SA)),$(call schedule-create-sa,$(SCHEDULE_WORKER_SA)))
	$(call schedule-grant,$(PROJECT),$(SCHEDULE_SA),roles/dataflow.developer)
	gcloud iam service-accounts add-iam-policy-binding $(SCHEDULE_WORKER_SA) --project=$(PROJECT) \
		--member=serviceAccount:$(SCHEDULE_SA) --role=roles/iam.serviceAccountUser --format=none
	$(call schedule-grant,$(PROJECT),$(SCHEDULE_WORKER_SA),roles/dataflow.worker)
	gcloud storage buckets add-iam-policy-binding gs://$(BUCKET) \
		--member=serviceAccount:$(SCHEDULE_WORKER_SA) --role=roles/storage.objectAdmin --format=none
	gcloud artifacts repositories add-iam-policy-binding $(TEMPLATE_REPO) --project=$(PROJECT) --location=$(REGION) \
		--member=serviceAccount:$(SCHEDULE_WORKER_SA) --role=roles/artifactregistry.reader --format=none
	$(if $(call schedule-param,datastore_project),$(call schedule-grant,$(call schedule-param,datastore_project),$(SCHEDULE_WORKER_SA),roles/datastore.user))
	$(if $(schedule-bigquery),$(call schedule-grant,$(schedule-bq-project),$(SCHEDULE_WORKER_SA),roles/bigquery.readSessionUser))
	$(if $(schedule-bigquery),$(call schedule-grant,$(schedule-bq-project),$(SCHEDULE_WORKER_SA),roles/bigquery.jobUser))
	$(if $(schedule-bigquery),$(call schedule-grant,$(schedule-bq-project),$(SCHEDULE_WORKER_SA),roles/bigquery.dataViewer))

## schedule-run, schedule-pause, schedule-resume, schedule-delete: run the job now, pause, resume or delete it.
schedule-run schedule-pause schedule-resume schedule-delete:
	$(call template-require,PROJECT,the Google Cloud project (PROJECT=my-project))
	$(call template-require,SCHEDULE_LOCATION,the Cloud Scheduler location (REGION=europe-west1 or SCHEDULE_LOCATION=europe-west1))
	gcloud scheduler jobs $(patsubst schedule-%,%,$@) $(SCHEDULE_JOB) $(schedule-where)
