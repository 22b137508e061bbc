#!/usr/bin/env python3
"""Rebuild data/real_sfx/ (real recorded sound effects) from Debian game-data packages.

    python tools/build_real_corpus.py --out data/real_sfx --cache ~/.cache/arseg-debs

On a Debian machine with apt (bookworm sources): each package is fetched by name with
`apt-get download PKG=VERSION` into --cache (or found there already), its sha256 checked
against the value pinned below, and read with `dpkg-deb --fsys-tarfile` (nothing is
installed). The selected files are decoded, downmixed, resampled to 16 kHz with soxr,
checked by their audio (active length, level, tonality), trimmed to their active part (at
most MAX_SECONDS), written as 16-bit FLAC, freed of exact and near duplicates, and split
per category with a seed. Everything is processed in sorted order with fixed settings, so
two runs with the same soundfile/libsndfile, soxr, numpy and librosa give identical bytes
(the versions used are written to build_info.tsv).

Outputs (README.md beside them is written by hand): clips.tsv, audio/<clip_id>.flac,
rejected.tsv (every selected file left out, and why), LICENSES, build_info.tsv.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

SAMPLE_RATE = 16000
MAX_SECONDS = 2.8       # clips are cut to the first MAX_SECONDS of their active part (keeps the corpus under 25 MB)
MIN_ACTIVE = 0.08       # seconds above the activity threshold, or the clip is rejected
ACTIVE_DB = 40.0        # a frame is active within this many dB of the loudest frame
MIN_LEVEL_DBFS = -45.0  # RMS of the active part
MAX_TONAL = 0.9         # tone share (see tonality) above which a clip that holds its pitch is a beep
NEAR_DUPLICATE = 0.9    # waveform correlation (best alignment) above which two clips are one recording
SPLIT_SEED = 0

# name -> (version, sha256 of the .deb): the exact files the corpus is built from (Debian bookworm)
PACKAGES = {
    "ufoai-sound": ("2.5-2", "0224308c10e1265581d1829f19eaef031175390fd0eafeb4a1d558ac6561ed4e"),
    "scorched3d-data": ("44+dfsg-8", "b0be0a6d561966a62b1f135e0e6f5681c85f12e34ecad5777cb1af9fbcb7f1da"),
    "qabcs-data": ("1.0.2-6", "3484da4cf258e6f3a39a1fc99bbfcaddfd679cff96a8fa792f261ab0a2bf9d86"),
    "lugaru-data": ("1.2-6", "6a25e8d2d7c2d94b7873669d1f52137b2ba56e86ba5c2f08fefeacd65e526023"),
    "searchandrescue-data": ("1.3.0-1.1", "0036c09a92a90a2ce4ac3dde026bb90cc306cd1964f24749c0229926ff36d1d3"),
    "lincity-ng-data": ("2.9~git20150314-5", "8f5e85bd42879abdc7099b035d7a3d7468eceb6b93b52a12270c28f3f3c792f9"),
    "widelands-data": ("2:1.1-3", "0e23d645b15bcfb9e3bcae0de9bc1bdfa75a6ecb36b2e449759d6eb0b4bbd8fb"),
    "supertuxkart-data": ("1.4+dfsg-2", "568d69cda50dc8ad1facb89514bd14953dfca736fdb83c49ae330b0aa7dd2364"),
    "torcs-data": ("1.3.7+dfsg-5", "33a170ec9db8bdf7e33cb07b96b9854d5ef9e47b1f82705e4c24d6caaf13fb99"),
    "redeclipse-data": ("1.6.0-1", "ada26453d3100bd61154ce20a699352f0b48bb29f8505f477ebdcb612f71ab42"),
}
SHORT = {"ufoai-sound": "ufoai", "scorched3d-data": "scorched3d", "qabcs-data": "qabcs", "lugaru-data": "lugaru",
         "searchandrescue-data": "sar", "lincity-ng-data": "lincity", "widelands-data": "widelands",
         "supertuxkart-data": "stk", "torcs-data": "torcs", "redeclipse-data": "redeclipse"}
# Installed path prefix -> the path in the upstream tree that debian/copyright's Files: name.
UPSTREAM = {
    "ufoai-sound": ("0snd.pk3:", "base/"),  # members of the zip usr/share/games/ufoai/base/0snd.pk3
    "scorched3d-data": ("usr/share/games/scorched3d/", ""),
    "qabcs-data": ("usr/share/qabcs/", ""),
    "lugaru-data": ("usr/share/games/lugaru/", "Data/"),
    "searchandrescue-data": ("usr/share/games/searchandrescue/", ""),
    "lincity-ng-data": ("usr/share/games/lincity-ng/", "data/"),
    "widelands-data": ("usr/share/games/widelands/", ""),
    "supertuxkart-data": ("usr/share/games/supertuxkart/", ""),
    "torcs-data": ("usr/share/games/torcs/", ""),
    "redeclipse-data": ("usr/share/games/redeclipse/", ""),
}
# searchandrescue-data's copyright file is not machine-readable: "the GNU General Public
# License" with no version, which the GPL itself reads as "any version ever published".
PLAIN_LICENCE = {"searchandrescue-data": ("GPL-1+", "1999-2004 WolfPack Entertainment")}
FREE_LICENCE = re.compile(r"^(GPL-[123](\.0)?\+?|LGPL-2(\.1)?\+?|CC-BY(-SA)?-[34](\.0)?\+?|CC0(-1\.0)?|public-domain|"
                          r"Public-Domain)$")


def is_free(licence: str) -> bool:
    """A licence on the free list, or a choice ("A or B") between licences that all are."""
    return all(FREE_LICENCE.match(part.strip()) for part in re.split(r"\s+or\s+|\s*,\s*", licence))


@dataclass(frozen=True)
class Rule:
    package: str
    pattern: str  # regex over the upstream-relative path, full match
    category: str
    description: str  # may use {1}, {2}: the pattern's groups, with _ and - as spaces


def R(package, pattern, category, description):
    return Rule(package, pattern, category, description)


# The selection: every file a rule names is a candidate, checked by its audio afterwards.
# Music, speech, UI sounds and synthetic (sci-fi) effects have no rule. Order matters: the
# first rule that matches a file decides its category.
U, S, Q, L, A, C, W, K, T, E = ("ufoai-sound", "scorched3d-data", "qabcs-data", "lugaru-data", "searchandrescue-data",
                                "lincity-ng-data", "widelands-data", "supertuxkart-data", "torcs-data", "redeclipse-data")
SURFACES = "carpet|dirt|grass|gravel|metal|sand|snow|stone|tile|wood"
RULES = [
    # footsteps
    R(U, rf"base/sound/footsteps/({SURFACES})\d*\.ogg", "footsteps", "footsteps on {1}"),
    R(U, r"base/sound/footsteps/linoleum\.ogg", "footsteps", "footsteps on linoleum"),
    R(U, r"base/sound/footsteps/splash\d\.ogg", "footsteps", "footsteps splashing through shallow water"),
    R(L, r"Data/Sounds/FootStep(Grass|Snow|Stone)\d\.ogg", "footsteps", "a footstep on {1}"),
    R(E, r"data/sounds/player/footstep\d?\.ogg", "footsteps", "a footstep on a hard floor"),
    R(E, r"data/sounds/player/concstep\d?\.ogg", "footsteps", "a footstep on concrete"),
    R(E, r"data/sounds/player/swimstep\d?\.ogg", "footsteps", "wading steps in water"),
    # doors
    R(U, r"base/sound/doors/door\d-(open|close)\.ogg", "door", "a door being {1}"),
    R(U, r"base/sound/doors/open_close\.ogg", "door", "a door opened and closed"),
    R(U, r"base/sound/doors/creak_low_short\.ogg", "door", "a short low door creak"),
    R(U, r"base/sound/ambience/creak\.ogg", "door", "a creaking door"),
    R(A, r"sounds/door_close\.ogg|sounds/door_close\.wav", "door", "an aircraft door closing"),
    R(C, r"data/sounds/Window(Open|Close)\.wav", "door", "a window being {1}"),
    R(E, r"data/sounds/ambience/door\.ogg", "door", "a heavy sliding door"),
    R(E, r"data/sounds/ambience/morph/door\.ogg", "door", "a heavy door opening"),
    R(U, r"base/sound/misc/lobbyprivmsg\.ogg", "door", "a door knock"),
    # breaking things
    R(U, r"base/sound/misc/break(glass|wood|metal)\d+\.ogg", "breaking", "{1} breaking"),
    R(K, r"data/sfx/break\.ogg", "breaking", "something breaking apart"),
    R(L, r"Data/Sounds/(Break|Broken)\.ogg", "breaking", "wood breaking"),
    R(L, r"Data/Sounds/StaffBreak\.ogg", "breaking", "a wooden staff snapping"),
    R(E, r"data/sounds/sfx/debris\d?\.ogg", "breaking", "falling debris"),
    # fire
    R(U, r"base/sound/ambience/(fire\d*|firesoft|smallfire)\.ogg", "fire", "a fire burning and crackling"),
    R(L, r"Data/Sounds/Fire(Start|End)?\.ogg", "fire", "a fire burning"),
    R(E, r"data/sounds/ambience/fire\.ogg", "fire", "a fire burning"),
    R(E, r"data/sounds/sfx/(burning|burnfire)\.ogg", "fire", "flames burning"),
    R(E, r"data/sounds/sfx/extinguish\d?\.ogg", "fire", "a fire hissing out"),
    R(Q, r"abcs/all/noises/fire\.ogg", "fire", "a crackling fire"),
    R(C, r"data/sounds/Fire\d\.wav", "fire", "a large fire burning"),
    R(W, r"data/sound/metal/furnace\.ogg", "fire", "a roaring furnace"),
    # thunder
    R(U, r"base/sound/ambience/thunder\d\.ogg", "thunder", "a thunder clap"),
    R(S, r"data/globalmods/none/data/wav/misc/thunder\d?\.wav", "thunder", "thunder rumbling"),
    R(S, r"data/globalmods/apoc/data/wav/explosions/thunder\.wav", "thunder", "a thunder clap"),
    R(A, r"sounds/thunder_(loud|moderate|faint)\.wav", "thunder", "{1} thunder"),
    R(K, r"data/sfx/thunder\.ogg", "thunder", "thunder rolling"),
    R(E, r"data/sounds/ambience/morph/stormbolts\.ogg", "thunder", "a thunderstorm with lightning strikes"),
    # water
    R(U, r"base/sound/ambience/(water\d*|waterfontain)\.ogg", "water", "running water"),
    R(E, r"data/sounds/ambience/(waterfall\w*)\.ogg", "water", "a waterfall"),
    R(E, r"data/sounds/ambience/(river|creek)\.ogg", "water", "a flowing {1}"),
    R(E, r"data/sounds/ambience/water\.ogg", "water", "lapping water"),
    R(E, r"data/sounds/ambience/cavedrip\.ogg", "water", "water dripping in a cave"),
    R(K, r"data/sfx/river_loop\.ogg", "water", "a flowing river"),
    R(K, r"data/sfx/waterfall_loop_2\.ogg", "water", "a waterfall"),
    R(C, r"data/sounds/Water\d\.wav", "water", "running water"),
    R(C, r"data/sounds/ParklandLake\d\.wav", "water", "a lake shore"),
    R(S, r"data/globalmods/none/data/wav/misc/oceanwaves\.wav", "water", "ocean waves"),
    R(S, r"data/globalmods/none/data/wav/misc/rain\.wav", "weather", "rain falling"),
    R(K, r"data/sfx/rain\.ogg", "weather", "rain falling"),
    R(E, r"data/sounds/ambience/morph/(stormrain|rain)\.ogg", "weather", "heavy rain"),
    # weather: wind and rain
    R(U, r"base/sound/ambience/arcticwind\.ogg", "weather", "arctic wind blowing"),
    R(L, r"Data/Sounds/Wind\.ogg", "weather", "wind blowing"),
    R(E, r"data/sounds/ambience/(wind|hollowwind|blowwind|wastewind)\.ogg", "weather", "wind blowing"),
    R(E, r"data/sounds/ambience/morph/(wind\d|stormwind)\.ogg", "weather", "gusty wind"),
    R(L, r"Data/Sounds/DesertAmbient\.ogg", "weather", "wind in the desert"),
    # birds
    R(S, r"data/globalmods/none/data/wav/misc/(birds\d|birdchirp\d)\.wav", "birds", "birds chirping"),
    R(S, r"data/globalmods/none/data/wav/misc/gull\d\.wav", "birds", "seagulls calling"),
    R(W, r"data/sound/animals/bird\d_\d+\.ogg", "birds", "a bird singing"),
    R(W, r"data/world/critters/duck/duck_\d+\.ogg", "birds", "a duck quacking"),
    R(K, r"data/sfx/exotic-birds(_2)?\.ogg", "birds", "exotic birds in a jungle"),
    R(L, r"Data/Sounds/Hawk\.ogg", "birds", "a hawk screeching"),
    R(Q, r"abcs/all/noises/(albatross|bird|crow|duck|eagle-owl|flamingo|goose|guinea_fowl|heron|owl|pelican|"
         r"pheasant|quail|sparrow|stork|vulture|wood_grouse|booby|emu|iora|quetzal)\.ogg", "birds", "a {1} calling"),
    R(E, r"data/sounds/ambience/forest\d\.ogg", "birds", "birds in a forest"),
    # dogs (and their wild kin)
    R(S, r"data/globalmods/apoc/data/wav/misc/dog\d?\.wav", "dog", "a dog barking"),
    R(L, r"Data/Sounds/(Bark\d?|BarkGrowl)\.ogg", "dog", "a dog barking"),
    R(L, r"Data/Sounds/(Growl\d?|Snarl\d?)\.ogg", "dog", "a dog growling"),
    R(Q, r"abcs/all/noises/dog\.ogg", "dog", "a dog barking"),
    R(S, r"data/globalmods/none/data/wav/misc/wolf\.wav", "dog", "a wolf howling"),
    R(W, r"data/sound/animals/(wolf|coyote)_\d+\.ogg", "dog", "a {1} howling"),
    R(Q, r"abcs/all/noises/wolf\.ogg", "dog", "a wolf howling"),
    # farm animals
    R(S, r"data/globalmods/apoc/data/wav/misc/(cows|moo)\.wav", "farm_animals", "cows mooing"),
    R(S, r"data/globalmods/apoc/data/wav/misc/rooster\.wav", "farm_animals", "a rooster crowing"),
    R(S, r"data/globalmods/apoc/data/wav/misc/sheep\.wav", "farm_animals", "sheep bleating"),
    R(K, r"data/tracks/black_forest/cow\.ogg", "farm_animals", "a cow mooing"),
    R(K, r"data/tracks/scotland/sheep\.ogg", "farm_animals", "a sheep bleating"),
    R(W, r"data/sound/farm/(sheep|horse|ox)_\d+\.ogg", "farm_animals", "a {1} calling"),
    R(W, r"data/sound/farm/donkey\.ogg", "farm_animals", "a donkey braying"),
    R(W, r"data/sound/farm/farm_animal_\d+\.ogg", "farm_animals", "farm animals"),
    R(Q, r"abcs/all/noises/(calf|cow|foal|horse|pig|rooster|sheep|yak|cat)\.ogg", "farm_animals", "a {1} calling"),
    # wild animals
    R(W, r"data/sound/animals/(moose|stag|boar)(_\d+)?\.ogg", "wild_animals", "a {1} calling"),
    R(W, r"data/sound/animals/frog\.ogg", "wild_animals", "a frog croaking"),
    R(S, r"data/globalmods/none/data/wav/misc/frogs\.wav", "wild_animals", "frogs croaking"),
    R(S, r"data/globalmods/none/data/wav/misc/bats\d\.wav", "wild_animals", "bats squeaking"),
    # (qabcs's hedgehog, porcupine, jerboa, wallaby and its insects are left out: animals rarely
    # heard, whose files are more likely stand-ins than recordings of them)
    R(Q, r"abcs/all/noises/(bear|chimpanzee|deer|dolphin|elephant|frog|hyena|jaguar|lion|little_monkey|lynx|moose|"
         r"mouse|rhinoceros|tiger|whale|zebra|raccoon|squirrel|otter|koala|giant_panda|hamster|chinchilla|"
         r"ferret)\.ogg", "wild_animals", "a {1} calling"),
    R(L, r"Data/Sounds/(RabbitChitter\d?|RabbitPain\d?)\.ogg", "wild_animals", "a rabbit squealing"),
    R(W, r"data/sound/animals/crickets\d_\d+\.ogg", "wild_animals", "crickets chirping"),
    R(U, r"base/sound/ambience/cricket_loop\.ogg", "wild_animals", "crickets chirping at night"),
    R(E, r"data/sounds/ambience/nightcrickets\.ogg", "wild_animals", "crickets chirping at night"),
    R(E, r"data/sounds/ambience/cycadas\.ogg", "wild_animals", "cicadas chirping"),
    # helicopters
    R(S, r"data/globalmods/(none|apoc)/data/wav/misc/(apache_1|helicopter)\.wav", "helicopter", "a helicopter flying"),
    R(A, r"sounds/helicopter_engine_(outside|inside|start|shutdown)\d?\.wav", "helicopter",
      "a helicopter engine, {1}"),
    R(A, r"sounds/hh6[05]/engine_(start|shutdown|inside)\.wav", "helicopter", "a helicopter engine, {1}"),
    R(Q, r"abcs/all/noises/(helicopter|quadrocopter)\.ogg", "helicopter", "a {1} flying"),
    # aircraft
    R(S, r"data/globalmods/none/data/wav/misc/(f16|f18|t38)(_\d)?\.wav", "aircraft", "{1} jet flying past"),
    R(S, r"data/globalmods/none/data/wav/misc/jet\.wav", "aircraft", "a jet flying past"),
    R(S, r"data/globalmods/apoc/data/wav/misc/cessna\.wav", "aircraft", "a propeller plane"),
    R(A, r"sounds/jet_engine_(start|shutdown|inside|outside)\d?\.wav", "aircraft", "a jet engine, {1}"),
    R(K, r"data/sfx/airplane_jetEngine\.ogg", "aircraft", "a jet engine"),
    R(Q, r"abcs/all/noises/airplane\.ogg", "aircraft", "an airplane flying"),
    R(C, r"data/sounds/ParklandPlane\d\.wav", "aircraft", "a plane flying over a park"),
    R(U, r"base/sound/seq/humanflyby\.ogg", "aircraft", "an aircraft flying by"),
    # road vehicles
    R(T, r"data/sound/(.+)_engine(_f)?\.wav", "car_engine", "a {1} car engine"),
    R(T, r"data/sound/(porsche|viper2|viper_long|944|ford2c|lamborghinidiablo|ford1b|cleanviper|ferrarif355|xj220|935|"
         r"corolla1400hi2|engine-1|ferrarif50|nsx|renault-v10|f360|clkdtmb2|lotus|mclarenf1|gt40|alpha-romeo)"
         r"\.wav", "car_engine", "a {1} car engine"),
    R(T, r"data/sound/turbo1\.wav", "car_engine", "a turbocharger whine"),
    R(T, r"data/sound/(backfire|backfire_loop)\.wav", "car_engine", "an engine backfiring"),
    R(K, r"data/sfx/(engine_large|engine_small|car_revup|car_accel)\.ogg", "car_engine", "a {1} kart engine"),
    R(U, r"base/sound/ugv/diesel-(idle|move|stop)\.ogg", "car_engine", "a diesel engine, {1}"),
    R(Q, r"abcs/all/noises/(tractor|excavator)\.ogg", "car_engine", "a {1} engine"),
    R(T, r"data/sound/(crash\d|bottom_crash|boom)\.wav", "crash", "a car crash"),
    R(K, r"data/sfx/crash\d?\.ogg", "crash", "a kart crashing"),
    R(A, r"sounds/crash_(ground|obstruction)\.wav", "crash", "an aircraft crashing"),
    R(A, r"sounds/land_belly\d?\.wav", "crash", "a belly landing scraping the ground"),
    R(T, r"data/sound/(skid|skid_tyres|skid_metal|out_of_road(-3)?)\.wav", "skid", "tyres skidding"),
    R(K, r"data/(sfx|karts/sara_the_racer)/skid\.ogg", "skid", "tyres skidding"),
    R(A, r"sounds/(land_wheel_skid\d?|land_wheel_skid_inside|land_ski_skid|helicopter_wheel_screech)\.wav",
      "skid", "wheels screeching on landing"),
    R(L, r"Data/Sounds/(Skid|SnowSkid)\.ogg", "skid", "skidding to a stop"),
    R(S, r"data/globalmods/apoc/data/wav/misc/carhorn\d\.wav", "horn_siren", "a car horn"),
    R(S, r"data/globalmods/apoc/data/wav/misc/(policecar|firetruck)\.wav", "horn_siren", "a {1} siren"),
    R(K, r"data/sfx/horn\.ogg", "horn_siren", "a horn honking"),
    R(C, r"data/sounds/FireStation\d\.wav", "horn_siren", "a fire station siren"),
    R(Q, r"abcs/all/noises/(bicycle|whistle)\.ogg", "horn_siren", "a {1} signal"),
    R(C, r"data/sounds/(TraficHigh|TraficLow)\d\.wav", "traffic", "road traffic"),
    R(C, r"data/sounds/RailTrain\d\.wav", "traffic", "a train on rails"),
    R(C, r"data/sounds/DirtTrack\d\.wav", "traffic", "vehicles on a dirt track"),
    R(E, r"data/sounds/ambience/distant_cars\.ogg", "traffic", "distant cars"),
    R(S, r"data/globalmods/apoc/data/wav/misc/citysounds\.wav", "traffic", "city traffic"),
    R(K, r"data/(library/stklib_steamLocomotive_a|tracks/black_forest)/steamLocomotive\.ogg", "traffic",
      "a steam locomotive"),
    R(Q, r"abcs/all/noises/(train|wagon)\.ogg", "traffic", "a {1}"),
    # weapons and impacts
    R(S, r"data/globalmods/(none|apoc)/data/wav/explosions/(small|medium|large|xlarge|tank|exp|dirt|napalm)\.wav",
      "explosion", "a {2} explosion"),
    R(K, r"data/sfx/explosion\.ogg", "explosion", "an explosion"),
    R(U, r"base/sound/geoscape/combat-explosion\.ogg", "explosion", "an explosion"),
    R(U, r"base/sound/weapons/explosion(-fire|-grenade|-rocket)?\.ogg", "explosion", "an explosion"),
    R(C, r"data/sounds/RocketExplosion1\.wav", "explosion", "a rocket exploding"),
    R(E, r"data/sounds/weapons/(grenade|mine|rocket)/explode\d?\.ogg", "explosion", "a {1} explosion"),
    R(U, r"base/sound/weapons/bullet-(pistol|rifle|shotgun|smg|sniper|chaingun|hmg|bolter|heavybolter)(\d|-\d+x)?"
         r"\.ogg", "gunshot", "{1} fire"),
    R(U, r"base/sound/weapons/reload-(pistol|rifle|shotgun|smg|sniper|grenade|rocket)\.ogg", "gun_reload",
      "reloading a {1}"),
    R(U, r"base/sound/weapons/grenade-(pin|bounce)\.ogg", "gun_reload", "a grenade {1}"),
    R(E, r"data/sounds/weapons/(pistol|rifle|shotgun|smg|rocket|grenade|flamer|plasma)/reload\.ogg", "gun_reload",
      "reloading a {1}"),
    R(E, r"data/sounds/weapons/reload\.ogg", "gun_reload", "reloading a gun"),
    R(S, r"data/globalmods/apoc/data/wav/shoot/(machinegun|shotgun|tripleshot)\.wav", "gunshot", "{1} fire"),
    R(U, r"base/sound/impact/(bullet)-impact\.ogg", "gunshot", "a bullet hitting a wall"),
    R(L, r"Data/Sounds/(HighWhoosh|LowWhoosh|MidWhoosh|MoveWhoosh|Whoosh|WhooshHit)\.ogg", "blade",
      "a whoosh of a swung weapon"),
    R(L, r"Data/Sounds/(KnifeDraw|KnifeSheathe|KnifeSlice|KnifeSwish|SwordSlice|SwordStaff|ClawSlice)\.ogg", "blade",
      "{1}"),
    R(L, r"Data/Sounds/(Clank\d|MetalHit)\.ogg", "blade", "metal blades clashing"),
    R(U, r"base/sound/seq/sword-(fly|hit)\.ogg", "blade", "a sword {1}"),
    R(U, r"base/sound/impact/knife-impact\.ogg", "blade", "a knife striking"),
    R(E, r"data/sounds/weapons/sword/(primary|secondary)\.ogg", "blade", "a sword swing"),
    R(K, r"data/sfx/swatter\.ogg", "blade", "a swatter swinging"),
    # splashes
    R(S, r"data/globalmods/none/data/wav/misc/splash\.wav", "splash", "a splash"),
    R(K, r"data/sfx/splash\.ogg", "splash", "a splash"),
    R(A, r"sounds/splash_(human|aircraft)\.wav", "splash", "a {1} splashing into water"),
    R(E, r"data/sounds/sfx/(splashin\d?|splashout\d?|splosh\d?)\.ogg", "splash", "splashing in water"),
    R(U, r"base/sound/footsteps/water_(in|out|under)\.ogg", "splash", "wading {1} water"),
    R(U, r"base/sound/impact/water(bullet)?-impact\.ogg", "splash", "something hitting water"),
    # tools and crafts
    R(W, r"data/sound/hammering/(hammering_\d+|geologist_hammer)\.ogg", "hammering", "hammering"),
    R(W, r"data/sound/smiths/(smith|toolsmith)_\d+\.ogg", "hammering", "a smith hammering on an anvil"),
    R(W, r"data/sound/smiths/sharpening\.ogg", "hammering", "a blade sharpened on a grindstone"),
    R(W, r"data/sound/(stonecutting/stonemason|stonecutting/stonecutter|atlanteans/cutting/stonecutter_\d+)\.ogg",
      "hammering", "cutting stone with a chisel"),
    R(K, r"data/sfx/(anvil|hammer)\.ogg", "hammering", "a {1} striking"),
    R(C, r"data/sounds/Blacksmith\d\.wav", "hammering", "a blacksmith at work"),
    R(W, r"data/sound/atlanteans/saw/(benchsaw|sawing)_\d+\.ogg", "woodcutting", "{1} wood"),
    R(W, r"data/sound/sawmill/sawmill_\d+\.ogg", "woodcutting", "a sawmill"),
    R(W, r"data/sound/woodcutting/(fast_woodcutting_\d+|woodcutting)\.ogg", "woodcutting", "chopping wood with an axe"),
    R(W, r"data/sound/woodcutting/tree_falling_\d+\.ogg", "woodcutting", "a tree falling"),
    R(W, r"data/sound/farm/scythe_\d+\.ogg", "woodcutting", "a scythe cutting grass"),
    # people
    R(C, r"data/sounds/SportsCroud\d\.wav", "crowd", "a crowd in a stadium"),
    R(S, r"data/globalmods/apoc/data/wav/misc/cheeringloop\.wav", "crowd", "a cheering crowd"),
    R(W, r"data/sound/barbarians/taverns/(inn|biginn|tavern)_\d+\.ogg", "crowd", "chatter in a busy tavern"),
    R(W, r"data/sound/empire/taverns/(meal|ration)_\d+\.ogg", "crowd", "a busy tavern kitchen"),
    R(C, r"data/sounds/(MarketFull1|MarketMed1)\.wav", "crowd", "a busy market"),
    R(U, r"base/sound/(soldiers|civilians)/(civ)?(fem|female|male)(death|hurt|scream)\d+a?\.ogg", "scream",
      "a {3} {4}"),
    R(S, r"data/globalmods/apoc/data/wav/misc/(scream\d|screaming)\.wav", "scream", "a person screaming"),
    R(K, r"data/sfx/(WilhelmScream|ugh)\.ogg", "scream", "a pained scream"),
    R(E, r"data/sounds/player/pain\d?\.ogg", "scream", "a cry of pain"),
    R(E, r"data/sounds/player/death\d?\.ogg", "scream", "a dying cry"),
    # machinery
    R(C, r"data/sounds/(IndustryHigh|IndustryLight|OreMine|CoalMine|Mill|WindMill)\d\.wav", "machinery",
      "machinery: {1}"),
    R(W, r"data/sound/mill/mill_turning_\d+\.ogg", "machinery", "a mill turning"),
    R(W, r"data/sound/mill/weaving\.ogg|data/sound/barbarians/weaver\.ogg", "machinery", "a weaving loom"),
    R(W, r"data/sound/barbarians/(stonegrind|mortar)\.ogg", "machinery", "grinding with a {1}"),
    R(U, r"base/sound/ambience/(machine1|minepump03|steam|wind_turbine)\.ogg", "machinery", "machinery, {1}"),
    R(E, r"data/sounds/ambience/(pneumatic|machine1|machine2|vapour)\.ogg", "machinery", "machinery, {1}"),
    R(K, r"data/sfx/machine_sound\.ogg", "machinery", "a machine running"),
    R(Q, r"abcs/all/noises/(clock|watch|zipper|ratchet|yoyo|camera_lens)\.ogg", "machinery", "a {1}"),
]


# --- packages --------------------------------------------------------------------------------

def deb_path(cache: Path, package: str) -> Path:
    version = PACKAGES[package][0]  # apt-get download writes an epoch's colon as %3a
    return cache / f"{package}_{version.replace(':', '%3a')}_all.deb"


def fetch(cache: Path, package: str) -> Path:
    """The package's .deb in `cache`, downloaded with apt-get if missing, sha256 checked."""
    from arseg.io.digest import file_sha256

    version, sha256 = PACKAGES[package]
    path = deb_path(cache, package)
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=cache, check=True)
    got = file_sha256(path)
    if got != sha256:
        raise SystemExit(f"{path}: sha256 {got} is not the pinned {sha256}")
    return path


def package_files(deb: Path, package: str) -> tuple[dict[str, bytes], str]:
    """{upstream-relative path: bytes} of the audio files a rule may name, and the copyright text."""
    installed, upstream = UPSTREAM[package]
    wanted = {r.package for r in RULES}
    files, copyright_text = {}, ""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            name = member.name.lstrip("./")
            if not member.isfile():
                continue
            if name == f"usr/share/doc/{package}/copyright":
                copyright_text = tar.extractfile(member).read().decode("utf-8")
            elif package == "ufoai-sound" and name.endswith("/0snd.pk3"):
                with zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read())) as pk3:
                    for info in pk3.infolist():
                        if info.filename.startswith("sound/") and info.filename.endswith((".ogg", ".wav")):
                            files[upstream + info.filename] = pk3.read(info)
            elif package in wanted and name.startswith(installed) and name.endswith((".ogg", ".wav")):
                files[upstream + name[len(installed):]] = tar.extractfile(member).read()
    if proc.wait() != 0:
        raise SystemExit(f"{deb}: dpkg-deb --fsys-tarfile failed")
    return files, copyright_text


# --- licences --------------------------------------------------------------------------------

def parse_dep5(text: str) -> list[tuple[list[str], str, str]]:
    """[(Files patterns, Copyright, License name)] of a machine-readable debian/copyright."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "files" in fields and "license" in fields:
            patterns = fields["files"].split()
            credit = " ".join(x.strip() for x in fields.get("copyright", "").splitlines() if x.strip())
            comment = " ".join(x.strip() for x in fields.get("comment", "").splitlines() if x.strip() != ".")
            if re.fullmatch(r"(?i)n/?a|none|no-copyright|not applicable.*|", credit):
                credit = comment or "no author named"
            elif comment and len(comment) <= 200:  # often the author and source of a sound: attribution
                credit = f"{credit}; {comment}"
            paragraphs.append((patterns, credit, fields["license"].splitlines()[0].strip()))
    return paragraphs


def licence_of(package: str, path: str, paragraphs) -> tuple[str, str]:
    """(licence, credit): the last Files paragraph that matches wins (DEP-5)."""
    if package in PLAIN_LICENCE:
        return PLAIN_LICENCE[package]
    found = None
    for patterns, credit, licence in paragraphs:
        if any(fnmatch.fnmatchcase(path, p) for p in patterns):
            found = (licence, credit)
    if found is None:
        raise SystemExit(f"{package}: no Files paragraph in its copyright covers {path}")
    return found


# --- audio -----------------------------------------------------------------------------------

def decode(data: bytes) -> np.ndarray:
    """Mono float32 at SAMPLE_RATE (soxr HQ, the resampler librosa and arseg use)."""
    import soundfile as sf
    import soxr

    audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1, dtype=np.float32)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return mono


def frame_db(audio: np.ndarray, frame: int = 320) -> np.ndarray:
    n = len(audio) // frame
    power = (audio[: n * frame].astype(np.float64).reshape(n, frame) ** 2).mean(axis=1)
    return 10 * np.log10(power + 1e-12)


def tonality(audio: np.ndarray) -> tuple[float, float]:
    """(tone share, pitch drift) over 64 ms frames above 60 Hz.

    tone share: the median over loud frames of the share of the whitened spectrum (each bin over
    the median of the 33 bins around it, so a spectrum's tilt does not count) in its 3 strongest
    bins: a pure tone is near 1, noise near 0. pitch drift: the median step of the strongest bin
    from frame to frame, in bins. A beep is a strong tone that holds its pitch; a bird's whistle
    moves and an engine spreads over harmonics.
    """
    from scipy.ndimage import median_filter

    n = 1024
    frames = len(audio) // n
    if frames == 0:
        return 0.0, 0.0
    blocks = audio[: frames * n].astype(np.float64).reshape(frames, n) * np.hanning(n)
    spectrum = np.abs(np.fft.rfft(blocks, axis=1))[:, 4:] ** 2  # from 62.5 Hz: not rumble or DC
    energy = spectrum.sum(axis=1)
    loud = energy > energy.max() * 1e-2
    spectrum = spectrum[loud]
    white = spectrum / (median_filter(spectrum, size=(1, 33), mode="nearest") + 1e-20)
    share = np.sort(white, axis=1)[:, -3:].sum(axis=1) / white.sum(axis=1)
    peaks = spectrum.argmax(axis=1)
    drift = float(np.median(np.abs(np.diff(peaks)))) if len(peaks) > 1 else 0.0
    return float(np.median(share)), drift


def select_audio(audio: np.ndarray) -> tuple[np.ndarray | None, str]:
    """The active part of a clip (at most MAX_SECONDS), or None and why it is rejected."""
    frame = 320  # 20 ms
    if len(audio) < frame * 3:
        return None, f"too short ({len(audio) / SAMPLE_RATE:.3f} s)"
    db = frame_db(audio, frame)
    loud = db.max()
    if loud < -70:
        return None, "silent"
    active = np.nonzero(db > loud - ACTIVE_DB)[0]
    first, last = int(active[0]), int(active[-1]) + 1
    if len(active) * frame / SAMPLE_RATE < MIN_ACTIVE:
        return None, f"active for {len(active) * frame / SAMPLE_RATE:.2f} s only"
    start, stop = max(0, first - 2) * frame, min(len(audio), (last + 2) * frame)
    stop = min(stop, start + int(MAX_SECONDS * SAMPLE_RATE))
    clip = audio[start:stop].copy()
    level = 10 * np.log10(np.mean(clip.astype(np.float64) ** 2) + 1e-20)
    if level < MIN_LEVEL_DBFS:
        return None, f"too quiet ({level:.1f} dBFS)"
    tone, drift = tonality(clip)
    if tone > MAX_TONAL and drift <= 1:
        return None, f"a steady tone or beep (tone share {tone:.2f}, pitch drift {drift:g} bins)"
    fade = int(0.01 * SAMPLE_RATE)  # 10 ms, so a cut mid-sound does not click
    if start > 0:
        clip[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
    if stop < len(audio):
        clip[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return clip, ""


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(audio.astype(np.float64) * 32767.0), -32768, 32767).astype(np.int16)


def flac_bytes(pcm: np.ndarray) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def profile(pcm: np.ndarray) -> np.ndarray:
    """Mean log-mel spectrum, centred and unit length: a cheap screen for candidate duplicates."""
    import librosa

    mel = librosa.feature.melspectrogram(y=pcm.astype(np.float32) / 32768.0, sr=SAMPLE_RATE, n_fft=512,
                                         hop_length=160, n_mels=64, power=2.0)
    mean = np.log10(mel + 1e-8).astype(np.float64).mean(axis=1)
    mean -= mean.mean()
    return mean / (np.linalg.norm(mean) + 1e-12)


DUP_RATE = 4000  # near duplicates are compared at 4 kHz: 16x fewer samples, same verdicts
DUP_SIZE = 1 << int(np.ceil(np.log2(2 * MAX_SECONDS * DUP_RATE)))


class Waveform:
    """A clip prepared once for same_recording: at DUP_RATE, its FFT, its running energy."""

    def __init__(self, pcm: np.ndarray):
        from scipy.signal import resample_poly

        x = resample_poly(pcm.astype(np.float64) / 32768.0, 1, SAMPLE_RATE // DUP_RATE)
        self.n = len(x)
        self.spectrum = np.fft.rfft(x, DUP_SIZE)
        self.conj = np.conj(self.spectrum)
        self.energy = np.concatenate([[0.0], np.cumsum(x * x)])


def same_recording(a: Waveform, b: Waveform, min_overlap: float = 0.5) -> float:
    """Best normalised correlation of two waveforms over every shift where they overlap by at least
    min_overlap of the shorter one: the same recording, trimmed or re-levelled, scores near 1 (or -1
    when inverted); two takes of a sound, even of one kind, score far lower."""
    if a.n > b.n:
        a, b = b, a
    corr = np.fft.irfft(b.spectrum * a.conj, DUP_SIZE)
    # shift k (a starts at b[k]), from -(len(a)-1) to len(b)-1; the energies of the overlapping parts
    shifts = np.arange(-(a.n - 1), b.n)
    values = corr[shifts % DUP_SIZE]
    b_lo, b_hi = np.clip(shifts, 0, b.n), np.clip(shifts + a.n, 0, b.n)
    a_lo, a_hi = b_lo - shifts, b_hi - shifts
    energy = np.sqrt((a.energy[a_hi] - a.energy[a_lo]) * (b.energy[b_hi] - b.energy[b_lo]))
    ok = ((b_hi - b_lo) >= min_overlap * a.n) & (energy > 1e-9 * (a.energy[-1] + b.energy[-1]))
    if not ok.any():
        return 0.0
    return float(np.max(np.abs(values[ok]) / energy[ok]))


# --- selection -------------------------------------------------------------------------------

# File-name words that read badly in a description, and what to say instead.
WORDS = {"fem": "woman's", "female": "woman's", "male": "man's", "death": "dying cry", "hurt": "cry of pain",
         "xlarge": "very large", "benchsaw": "a bench saw cutting", "sawing": "sawing",
         "IndustryHigh": "heavy industry", "IndustryLight": "light industry", "OreMine": "an ore mine",
         "CoalMine": "a coal mine", "Mill": "a mill", "WindMill": "a windmill", "engine large": "large",
         "engine small": "small", "car revup": "revving up", "car accel": "accelerating",
         "apache 1": "an Apache", "f16": "an F-16", "f18": "an F-18", "t38": "a T-38",
         "KnifeDraw": "a knife drawn", "KnifeSheathe": "a knife sheathed", "KnifeSlice": "a knife slicing",
         "KnifeSwish": "a knife swished", "SwordSlice": "a sword slicing", "SwordStaff": "a sword hitting a staff",
         "ClawSlice": "claws slashing", "fly": "whooshing through the air", "hit": "striking",
         "open": "opened", "close": "closed", "Open": "opened", "Close": "closed", "outside": "heard from outside",
         "inside": "heard from inside", "start": "starting", "shutdown": "shutting down", "idle": "idling",
         "move": "moving", "stop": "stopping", "smg": "submachine gun", "hmg": "heavy machine gun",
         "bolter": "heavy rifle", "heavybolter": "heavy machine gun", "chaingun": "chain gun",
         "f360": "Ferrari F360", "ferrarif355": "Ferrari F355", "ferrarif50": "Ferrari F50", "nsx": "Honda NSX",
         "gt40": "Ford GT40", "xj220": "Jaguar XJ220", "mclarenf1": "McLaren F1", "lotus": "Lotus",
         "porsche": "Porsche", "944": "Porsche 944", "935": "Porsche 935", "lamborghinidiablo": "Lamborghini Diablo",
         "alpha romeo": "Alfa Romeo", "viper2": "Dodge Viper", "viper long": "Dodge Viper", "cleanviper": "Dodge Viper",
         "206": "Peugeot 206", "impreza2002": "Subaru Impreza", "evo7": "Mitsubishi Evo 7",
         "corolla1400hi2": "Toyota Corolla", "renault v10": "Renault V10", "ford1b": "Ford", "ford2c": "Ford",
         "clkdtmb2": "Mercedes CLK DTM", "engine 1": "racing"}


def rule_for(package: str, path: str):
    """(the first rule that names the file, its description), or (None, "")."""
    for rule in RULES:
        if rule.package == package:
            match = re.fullmatch(rule.pattern, path)
            if match:
                words = [WORDS.get(g.replace("_", " ").replace("-", " "), g.replace("_", " ").replace("-", " "))
                         if g else "" for g in match.groups()]
                text = re.sub(r"\s+", " ", rule.description.format(None, *words)).strip()
                text = re.sub(r"\ba ([aeiouAEIOU])", r"an \1", text)  # "a owl" -> "an owl"
                return rule, text.replace("a an ", "an ").replace("a a ", "a ")
    return None, ""


def group_key(package: str, path: str) -> str:
    """Variants of one source sound: the same name up to a trailing number or letter (step1,
    step2; bird2_00, bird2_03; femaledeath01a) in the same folder."""
    stem = re.sub(r"(_?\d+[a-z]?)+$", "", Path(path).stem)
    return f"{package}:{Path(path).parent}/{stem}"


def clip_id(category: str, package: str, path: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path).stem)
    return f"{category}.{SHORT[package]}.{stem}"


def build(out: Path, cache: Path) -> None:
    import pandas as pd
    import soundfile as sf
    import soxr
    import librosa

    from arseg.data.corpus.splits import assign_splits

    candidates, rejected, copyrights = [], [], {}
    for package in PACKAGES:
        deb = fetch(cache, package)
        files, copyright_text = package_files(deb, package)
        copyrights[package] = copyright_text
        paragraphs = parse_dep5(copyright_text)
        for path in sorted(files):
            rule, description = rule_for(package, path)
            if rule is None:
                continue
            licence, credit = licence_of(package, path, paragraphs)
            row = {"source_package": package, "source_path": path}
            if not is_free(licence):
                rejected.append({**row, "reason": f"licence {licence!r} not on the free list"})
                continue
            try:
                audio = decode(files[path])
            except Exception as error:  # noqa: BLE001 - a damaged file is left out and reported
                rejected.append({**row, "reason": f"cannot decode: {error}"})
                continue
            clip, why = select_audio(audio)
            if clip is None:
                rejected.append({**row, "reason": why})
                continue
            pcm = to_pcm16(clip)
            candidates.append({"clip_id": clip_id(rule.category, package, path), "category": rule.category,
                               "description": description, "duration": round(len(pcm) / SAMPLE_RATE, 3),
                               **row, "licence": licence, "credit": credit,
                               "group": group_key(package, path), "pcm": pcm})
        print(f"{package}: {sum(c['source_package'] == package for c in candidates)} candidates", file=sys.stderr)

    # Exact duplicates (same samples), then near duplicates (same recording, trimmed or
    # re-levelled, in any category): the first in clip_id order is kept.
    taken = {}
    for c in candidates:
        taken.setdefault(c["clip_id"], []).append(c)
    for same in taken.values():
        if len(same) > 1:  # one name in two folders (scorched3d's two mods): the folder tells them apart
            parts = [Path(c["source_path"]).parts for c in same]
            differ = next(i for i in range(min(map(len, parts))) if len({p[i] for p in parts}) > 1)
            for c, part in zip(same, parts):
                folder = re.sub(r"[^A-Za-z0-9_-]+", "_", part[differ])
                c["clip_id"] = clip_id(c["category"], c["source_package"], f"{folder}_{Path(c['source_path']).name}")
    candidates.sort(key=lambda c: c["clip_id"])
    if len({c["clip_id"] for c in candidates}) != len(candidates):
        raise SystemExit("two selected files map to one clip_id; make the rules more specific")
    kept, seen = [], {}
    for c in candidates:
        digest = hashlib.sha256(c["pcm"].tobytes()).hexdigest()
        if digest in seen:
            rejected.append({"source_package": c["source_package"], "source_path": c["source_path"],
                             "reason": f"identical audio to {seen[digest]}"})
            continue
        seen[digest] = c["clip_id"]
        kept.append(c)
    profiles = np.stack([profile(c["pcm"]) for c in kept])
    close = profiles @ profiles.T
    waves = [Waveform(c["pcm"]) for c in kept]
    dropped = set()
    for i in range(len(kept)):
        if i in dropped:
            continue
        for j in range(i + 1, len(kept)):
            if j in dropped or close[i, j] < 0.9:  # different spectra: not one recording
                continue
            score = same_recording(waves[i], waves[j])
            if score > NEAR_DUPLICATE:
                dropped.add(j)
                c = kept[j]
                rejected.append({"source_package": c["source_package"], "source_path": c["source_path"],
                                 "reason": f"near duplicate of {kept[i]['clip_id']} (waveform correlation {score:.3f})"})
    kept = [c for k, c in enumerate(kept) if k not in dropped]

    table = pd.DataFrame([{k: v for k, v in c.items() if k != "pcm"} for c in kept])
    counts = table["category"].value_counts()
    small = sorted(counts[counts < 10].index)
    table["split"] = assign_splits(table["category"], table["group"], seed=SPLIT_SEED)
    table["file"] = "audio/" + table["clip_id"] + ".flac"
    columns = ["clip_id", "category", "description", "duration", "split", "file", "source_package", "source_path",
               "licence", "credit"]

    out.mkdir(parents=True, exist_ok=True)
    audio_dir = out / "audio"
    audio_dir.mkdir(exist_ok=True)
    names = set()
    for c in kept:
        name = f"{c['clip_id']}.flac"
        names.add(name)
        data = flac_bytes(c["pcm"])
        target = audio_dir / name
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
    for stale in sorted(audio_dir.iterdir()):
        if stale.name not in names:
            stale.unlink()
    table[columns].to_csv(out / "clips.tsv", sep="\t", index=False, lineterminator="\n")
    pd.DataFrame(sorted(rejected, key=lambda r: (r["source_package"], r["source_path"])),
                 columns=["source_package", "source_path", "reason"]).to_csv(
        out / "rejected.tsv", sep="\t", index=False, lineterminator="\n")
    (out / "LICENSES").write_text(licences_text(table, copyrights), encoding="utf-8")
    info = [("package", f"{p}={PACKAGES[p][0]}", PACKAGES[p][1]) for p in PACKAGES]
    info += [("python-module", "soundfile", sf.__version__), ("libsndfile", "", sf.__libsndfile_version__),
             ("python-module", "soxr", soxr.__version__), ("python-module", "numpy", np.__version__),
             ("python-module", "librosa", librosa.__version__)]
    (out / "build_info.tsv").write_text("kind\tname\tversion_or_sha256\n" + "".join(
        f"{a}\t{b}\t{c}\n" for a, b, c in info), encoding="utf-8")
    print(f"{len(table)} clips in {table['category'].nunique()} categories; {len(rejected)} left out",
          file=sys.stderr)
    if small:  # written anyway, so rejected.tsv shows why
        raise SystemExit(f"categories under 10 clips: {', '.join(f'{c} ({counts[c]})' for c in small)}")


LICENCE_URLS = {
    "GPL-1+": "GNU General Public License, version 1 or any later version: https://www.gnu.org/licenses/old-licenses/gpl-1.0.txt",
    "GPL-2": "GNU General Public License, version 2: https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt",
    "GPL-2+": "GNU General Public License, version 2 or any later version: https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt",
    "GPL-3+": "GNU General Public License, version 3 or any later version: https://www.gnu.org/licenses/gpl-3.0.txt",
    "CC-BY-3.0": "Creative Commons Attribution 3.0 Unported: https://creativecommons.org/licenses/by/3.0/legalcode",
    "CC-BY-SA-3": "Creative Commons Attribution-ShareAlike 3.0 Unported: https://creativecommons.org/licenses/by-sa/3.0/legalcode",
    "CC-BY-SA-3.0": "Creative Commons Attribution-ShareAlike 3.0 Unported: https://creativecommons.org/licenses/by-sa/3.0/legalcode",
    "CC-BY-SA-3.0+": "Creative Commons Attribution-ShareAlike 3.0 Unported or any later version: https://creativecommons.org/licenses/by-sa/3.0/legalcode",
    "CC-BY-SA-4.0": "Creative Commons Attribution-ShareAlike 4.0 International: https://creativecommons.org/licenses/by-sa/4.0/legalcode",
    "CC-BY-4.0": "Creative Commons Attribution 4.0 International: https://creativecommons.org/licenses/by/4.0/legalcode",
    "CC0-1.0": "Creative Commons Zero 1.0 Universal: https://creativecommons.org/publicdomain/zero/1.0/legalcode",
    "public-domain": "Public domain (no copyright)",
}


def licences_text(table, copyrights: dict[str, str]) -> str:
    lines = ["Licences of the clips in this corpus", "=" * 36, "",
             "Each clip's licence and credit are in clips.tsv (columns licence, credit), taken from",
             "the debian/copyright file of the Debian package it comes from (reproduced in full below;",
             "several include the complete licence texts). The clips are derived works: decoded,",
             "downmixed to mono, resampled to 16 kHz and trimmed by tools/build_real_corpus.py.", "",
             "Licences used (clips):"]
    for licence, n in sorted(table["licence"].value_counts().items()):
        lines.append(f"  {licence} ({n}): {LICENCE_URLS.get(licence, 'see the copyright file below')}")
    lines += ["", "Per package (clips: licences):"]
    for package, group in table.groupby("source_package", sort=True):
        summary = ", ".join(f"{k} {v}" for k, v in sorted(group["licence"].value_counts().items()))
        lines.append(f"  {package} {PACKAGES[package][0]} ({len(group)}): {summary}")
    for package in sorted(set(table["source_package"])):
        title = f"usr/share/doc/{package}/copyright ({package} {PACKAGES[package][0]})"
        lines += ["", "", title, "-" * len(title), copyrights[package].rstrip("\n")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/real_sfx"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "arseg-debs",
                        help="folder for the downloaded .deb files (kept for the next run)")
    args = parser.parse_args(argv)
    build(args.out, args.cache)


if __name__ == "__main__":
    main()
