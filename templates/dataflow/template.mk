# Dataflow Flex Templates of pipelines/similarity and pipelines/als,
# included by the main Makefile (run from the module root). See
# templates/dataflow/README.md. Every target needs gcloud and a Google
# Cloud project: tests never run them.
#
#   make template-image PROJECT=my-project REGION=europe-west1 [TEMPLATE_BUILDER=docker] [PIPELINE=als]
#   make template-build PROJECT=my-project REGION=europe-west1 BUCKET=my-bucket [PIPELINE=als]
#   make template-run   PROJECT=my-project REGION=europe-west1 BUCKET=my-bucket [PIPELINE=als] \
#        TEMPLATE_PARAMS='input=gs://my-bucket/in/*.csv~output=gs://my-bucket/out/neighbors.jsonl~weights=view:0.5,cart:2'
#
# TEMPLATE_PARAMS separates parameters with ~ because values (weights)
# hold commas, gcloud's default separator.

TEMPLATE_DIR      := templates/dataflow
# The job: pipelines/$(PIPELINE), built by the Dockerfile with the build
# argument PIPELINE, described by its metadata file (similarity's is
# metadata.json, another job's PIPELINE-metadata.json).
PIPELINE          ?= similarity
TEMPLATE_METADATA ?= $(TEMPLATE_DIR)/$(if $(filter similarity,$(PIPELINE)),,$(PIPELINE)-)metadata.json
# Artifact Registry Docker repository of the image.
TEMPLATE_REPO     ?= dataflow
TEMPLATE_TAG      ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo latest)
TEMPLATE_IMAGE    ?= $(REGION)-docker.pkg.dev/$(PROJECT)/$(TEMPLATE_REPO)/$(PIPELINE):$(TEMPLATE_TAG)
# Where the template spec (image + metadata) is stored.
TEMPLATE_SPEC     ?= gs://$(BUCKET)/templates/$(PIPELINE).json
TEMPLATE_JOB      ?= $(PIPELINE)-$(shell date +%Y%m%d-%H%M%S)
TEMPLATE_PARAMS   ?=
# cloudbuild (build remotely with Cloud Build) or docker (build locally, push).
TEMPLATE_BUILDER  ?= cloudbuild

# $(call template-require,VAR,hint) stops make when VAR is empty.
template-require = $(if $($(1)),,$(error $(1) is required: $(2)))
# $(template-pipeline) stops make unless PIPELINE is one job with a template.
template-pipeline = $(if $(and $(filter 1,$(words $(PIPELINE))),$(wildcard $(TEMPLATE_METADATA))),,$(error PIPELINE=$(PIPELINE) has no template: want similarity (metadata.json), als (als-metadata.json) or realtime (realtime-metadata.json)))

.PHONY: template-image template-build template-run

## template-image: build and push the launcher image of PIPELINE (templates/dataflow/Dockerfile).
template-image:
	$(template-pipeline)
	$(call template-require,PROJECT,the Google Cloud project (PROJECT=my-project))
	$(call template-require,REGION,the Artifact Registry region (REGION=europe-west1))
ifeq ($(TEMPLATE_BUILDER),docker)
	docker build -f $(TEMPLATE_DIR)/Dockerfile --build-arg=PIPELINE=$(PIPELINE) -t $(TEMPLATE_IMAGE) .
	docker push $(TEMPLATE_IMAGE)
else
	gcloud builds submit --project=$(PROJECT) --config=$(TEMPLATE_DIR)/cloudbuild.yaml \
		--ignore-file=$(TEMPLATE_DIR)/.gcloudignore --substitutions=_IMAGE=$(TEMPLATE_IMAGE),_PIPELINE=$(PIPELINE) .
endif

## template-build: write the template spec (image + TEMPLATE_METADATA) to TEMPLATE_SPEC.
template-build:
	$(template-pipeline)
	$(call template-require,PROJECT,the Google Cloud project (PROJECT=my-project))
	$(call template-require,REGION,the Artifact Registry region (REGION=europe-west1))
	$(call template-require,BUCKET,the bucket of the template spec (BUCKET=my-bucket))
	gcloud dataflow flex-template build $(TEMPLATE_SPEC) --project=$(PROJECT) \
		--image=$(TEMPLATE_IMAGE) --sdk-language=GO --metadata-file=$(TEMPLATE_METADATA)

## template-run: start a Dataflow job from PIPELINE's template with TEMPLATE_PARAMS.
template-run:
	$(template-pipeline)
	$(call template-require,PROJECT,the Google Cloud project (PROJECT=my-project))
	$(call template-require,REGION,the Dataflow region (REGION=europe-west1))
	$(call template-require,BUCKET,the bucket of the template spec and staging (BUCKET=my-bucket))
	$(call template-require,TEMPLATE_PARAMS,pipeline parameters name=value separated by ~ (input=gs://...~output=gs://...))
	gcloud dataflow flex-template run $(TEMPLATE_JOB) --project=$(PROJECT) --region=$(REGION) \
		--template-file-gcs-location=$(TEMPLATE_SPEC) \
		--staging-location=gs://$(BUCKET)/staging --temp-location=gs://$(BUCKET)/temp \
		--parameters='^~^$(TEMPLATE_PARAMS)'
