# Dataflow Flex Template of pipelines/similarity, included by the main
# Makefile (run from the module root). See templates/dataflow/README.md.
# Every target needs gcloud and a Google Cloud project: tests never run them.
#
#   make template-image PROJECT=my-project REGION=europe-west1 [TEMPLATE_BUILDER=docker]
#   make template-build PROJECT=my-project REGION=europe-west1 BUCKET=my-bucket
#   make template-run   PROJECT=my-project REGION=europe-west1 BUCKET=my-bucket \
#        TEMPLATE_PARAMS='input=gs://my-bucket/in/*.csv~output=gs://my-bucket/out/neighbors.jsonl~weights=view:0.5,cart:2'
#
# TEMPLATE_PARAMS separates parameters with ~ because values (weights)
# hold commas, gcloud's default separator.

TEMPLATE_DIR      := templates/dataflow
# Artifact Registry Docker repository of the image.
TEMPLATE_REPO     ?= dataflow
TEMPLATE_TAG      ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo latest)
TEMPLATE_IMAGE    ?= $(REGION)-docker.pkg.dev/$(PROJECT)/$(TEMPLATE_REPO)/similarity:$(TEMPLATE_TAG)
# Where the template spec (image + metadata) is stored.
TEMPLATE_SPEC     ?= gs://$(BUCKET)/templates/similarity.json
TEMPLATE_JOB      ?= similarity-$(shell date +%Y%m%d-%H%M%S)
TEMPLATE_PARAMS   ?=
# cloudbuild (build remotely with Cloud Build) or docker (build locally, push).
TEMPLATE_BUILDER  ?= cloudbuild

# $(call template-require,VAR,hint) stops make when VAR is empty.
template-require = $(if $($(1)),,$(error $(1) is required: $(2)))

.PHONY: template-image template-build template-run

## template-image: build and push the launcher image (templates/dataflow/Dockerfile).
template-image:
	$(call template-require,PROJECT,the Google Cloud project (PROJECT=my-project))
	$(call template-require,REGION,the Artifact Registry region (REGION=europe-west1))
ifeq ($(TEMPLATE_BUILDER),docker)
	docker build -f $(TEMPLATE_DIR)/Dockerfile -t $(TEMPLATE_IMAGE) .
	docker push $(TEMPLATE_IMAGE)
else
	gcloud builds submit --project=$(PROJECT) --config=$(TEMPLATE_DIR)/cloudbuild.yaml \
		--ignore-file=$(TEMPLATE_DIR)/.gcloudignore --substitutions=_IMAGE=$(TEMPLATE_IMAGE) .
endif

## template-build: write the template spec (image + metadata.json) to TEMPLATE_SPEC.
template-build:
	$(call template-require,PROJECT,the Google Cloud project (PROJECT=my-project))
	$(call template-require,REGION,the Artifact Registry region (REGION=europe-west1))
	$(call template-require,BUCKET,the bucket of the template spec (BUCKET=my-bucket))
	gcloud dataflow flex-template build $(TEMPLATE_SPEC) --project=$(PROJECT) \
		--image=$(TEMPLATE_IMAGE) --sdk-language=GO --metadata-file=$(TEMPLATE_DIR)/metadata.json

## template-run: start a Dataflow job from the template with TEMPLATE_PARAMS.
template-run:
	$(call template-require,PROJECT,the Google Cloud project (PROJECT=my-project))
	$(call template-require,REGION,the Dataflow region (REGION=europe-west1))
	$(call template-require,BUCKET,the bucket of the template spec and staging (BUCKET=my-bucket))
	$(call template-require,TEMPLATE_PARAMS,pipeline parameters name=value separated by ~ (input=gs://...~output=gs://...))
	gcloud dataflow flex-template run $(TEMPLATE_JOB) --project=$(PROJECT) --region=$(REGION) \
		--template-file-gcs-location=$(TEMPLATE_SPEC) \
		--staging-location=gs://$(BUCKET)/staging --temp-location=gs://$(BUCKET)/temp \
		--parameters='^~^$(TEMPLATE_PARAMS)'
